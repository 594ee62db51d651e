"""A lab's machines through Ray: a real local Ray (2 CPUs) trains a run the app's server records."""

from __future__ import annotations

import os
import time

import pytest

from dlcore import TrainConfig, jobs, models, workers
from dlcore.runs import RunStore

# A one-machine cluster on the loopback address: this sandbox may reach no other, and Ray on Linux otherwise binds
# to the machine's network address (read when ray is imported)
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tiny_data_dir, monkeypatch):
    """A local Ray of 2 CPUs, started after the data folder is set so its workers find it, as a lab machine's would."""
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                       runtime_env={"py_modules": [workers.dlcore_folder()]})
    assert context.address_info["gcs_address"].startswith("127.0.0.1:")
    monkeypatch.setenv(workers.RAY_ADDRESS, context.address_info["gcs_address"])
    yield
    ray.shutdown()


def test_a_run_trains_on_the_cluster_live_and_stops_and_the_server_records_it(cluster, dlcore_home):
    manager = jobs.JobManager(RunStore(dlcore_home))
    config = TrainConfig(dataset="mnist", model=models.preset("keras-mlp"), epochs=50, batch_size=1, device="cpu")
    run_id = manager.submit(config)
    deadline = time.monotonic() + 120
    seen = set()
    while time.monotonic() < deadline and len(seen) < 3:
        progress = manager.progress(run_id)
        if progress.step:
            seen.add(progress.step)  # progress arrives live, step by step
        time.sleep(0.2)
    assert len(seen) >= 3 and manager.trainer(run_id).pid is None  # no process of this server trains it
    asked = time.monotonic()
    manager.stop(run_id)
    progress = manager.wait(run_id, timeout=60)
    assert progress.status == "stopped" and time.monotonic() - asked < 30
    runs = manager.store.list()
    assert [run.id for run in runs] == [run_id] and runs[0].status == "stopped" and runs[0].checkpoint
    assert runs[0].history["steps"] == progress.step_losses
