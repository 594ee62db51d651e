import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from PIL import Image
from safetensors.torch import save as safetensors_bytes

from dlcore import disk, models, runs
from dlcore.config import ConvBlock, DenseLayer, DLCoreError, ModelSpec, TrainConfig
from dlcore.evaluate import Evaluation
from tests.conftest import REPO
from tests.test_preprocess import seven


def test_create_update_get_list(dlcore_home):
    store = runs.RunStore()
    assert store.path == dlcore_home / "runs.db"
    first = store.create(TrainConfig(epochs=1), student="Ada")
    second = store.create(TrainConfig(epochs=2))
    result = Evaluation(0.9, 0.3, [0.9] * 10, [[0] * 10] * 10, [(1, 2, 3)])
    store.update(first, status="done", history={"steps": [1.0, 0.5], "epochs": [{"epoch": 1}]}, results=result)
    run = store.get(first)
    assert run.status == "done" and run.student == "Ada" and run.config.epochs == 1
    assert run.history["steps"] == [1.0, 0.5] and run.results == result and run.accuracy == 0.9
    assert [r.id for r in store.list()] == [second, first]
    assert [r.id for r in store.list(("done",))] == [first]
    assert "Ada" in run.label and "90.0%" in run.label


def test_results_made_before_the_server_reloaded_its_code_are_kept(dlcore_home):
    """Streamlit reloads the project's modules when a file changes; a run that was training then hands over results
    of the Evaluation class from before, which the store still writes."""
    store = runs.RunStore()
    run_id = store.create(TrainConfig(epochs=1))
    result = Evaluation(0.9, 0.3, [0.9] * 10, [[0] * 10] * 10, [(1, 2, 3)])
    before = type("Evaluation", (), {"to_dict": result.to_dict})()  # the same data, another class object
    store.update(run_id, status="done", results=before)
    assert store.get(run_id).results == result


def test_wal_mode(dlcore_home):
    store = runs.RunStore()
    with store._connect() as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_missing_run_is_a_sentence():
    with pytest.raises(DLCoreError, match="no run #42"):
        runs.RunStore().get(42)


def test_dead_owner_becomes_interrupted_and_others_are_untouched(dlcore_home):
    store = runs.RunStore()
    ours = store.create(TrainConfig())
    store.update(ours, status="running")
    done = store.create(TrainConfig())
    store.update(done, status="done")
    dead = store.create(TrainConfig())
    store.update(dead, status="running", owner=f"{runs.socket.gethostname()}:999999999:1")
    assert runs.RunStore().mark_interrupted() == 0  # the reopen already marked it
    assert store.get(dead).status == "interrupted" and "start it again" in store.get(dead).message
    assert store.get(ours).status == "running" and store.get(done).status == "done"


def test_recycled_pid_is_not_mistaken_for_the_owner(dlcore_home):
    store = runs.RunStore()
    run_id = store.create(TrainConfig())
    store.update(run_id, status="running", owner=f"{runs.socket.gethostname()}:{os.getpid()}:not-our-start-time")
    store.mark_interrupted()
    assert store.get(run_id).status == "interrupted"


def _write_many(root, count):
    store = runs.RunStore(root)
    for i in range(count):
        run_id = store.create(TrainConfig(seed=i))
        store.update(run_id, status="done", history={"steps": [float(i)] * 50})


def test_concurrent_writers_lose_nothing(dlcore_home):
    runs.RunStore()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(dlcore_home), 25)) for _ in range(3)]
    threads = [threading.Thread(target=_write_many, args=(str(dlcore_home), 25)) for _ in range(3)]
    for worker in procs + threads:
        worker.start()
    for worker in procs + threads:
        worker.join()  # spawned workers import torch first: slow on a busy machine, so no deadline here
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    listed = runs.RunStore().list()
    assert len(listed) == 150 and all(r.status == "done" for r in listed)


def test_checkpoint_round_trip_with_config_inside(tmp_path):
    config = TrainConfig(model=ModelSpec(dense=(DenseLayer(16, batch_norm=True),)))
    model = models.build(config.model)
    path = runs.save_checkpoint(tmp_path / "m.safetensors", model, config)
    loaded, loaded_config = runs.load_checkpoint(path)
    assert loaded_config == config
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name])
    assert not loaded.training


def test_pickle_and_garbage_are_refused(tmp_path):
    pickled = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(3)}, pickled)
    with pytest.raises(DLCoreError, match="not a safetensors"):
        runs.load_checkpoint(pickled)
    with pytest.raises(DLCoreError, match="not a safetensors"):
        runs.load_checkpoint_bytes(b"")
    with pytest.raises(DLCoreError, match="no checkpoint"):
        runs.load_checkpoint(tmp_path / "absent.safetensors")


def test_weights_must_fit_the_config(tmp_path):
    model = models.build(ModelSpec(dense=(DenseLayer(16),)))
    path = runs.save_checkpoint(tmp_path / "m.safetensors", model, TrainConfig(model=ModelSpec(dense=(DenseLayer(16),))))
    with pytest.raises(DLCoreError, match="do not fit"):
        runs.load_checkpoint_bytes(path.read_bytes(), TrainConfig(model=ModelSpec(dense=(DenseLayer(32),))))


def test_resolve_checkpoint_by_run_id(dlcore_home, tmp_path):
    store = runs.RunStore()
    run_id = store.create(TrainConfig())
    with pytest.raises(DLCoreError, match="no saved weights"):
        runs.resolve_checkpoint(str(run_id), store)
    store.update(run_id, checkpoint=str(tmp_path / "x.safetensors"))
    assert runs.resolve_checkpoint(f"#{run_id}", store) == tmp_path / "x.safetensors"
    assert runs.resolve_checkpoint("some/path.safetensors", store).name == "path.safetensors"


def test_tables_can_list_runs_without_their_history(dlcore_home):
    store = runs.RunStore()
    run_id = store.create(TrainConfig())
    store.update(run_id, status="done", history={"steps": [0.5] * 1000, "epochs": [{"epoch": 1}]})
    light, = store.list(with_history=False)
    assert light.id == run_id and light.status == "done" and light.history == {}
    assert store.list()[0].history["steps"] == [0.5] * 1000 and store.get(run_id).history["epochs"] == [{"epoch": 1}]


def test_a_run_stored_with_unchecked_settings_cannot_break_the_list(dlcore_home):
    """Before the schema, a config with momentum 'fast' was stored, and the run board raised for everyone."""
    store = runs.RunStore()
    good, bad = store.create(TrainConfig()), store.create(TrainConfig())
    broken = TrainConfig().to_dict() | {"momentum": "fast"}
    with store._connect() as db:
        db.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(broken), bad))
    assert [run.id for run in store.list()] == [good] == [run.id for run in store.list(with_history=False)]
    with pytest.raises(DLCoreError, match="field momentum cannot be 'fast'"):
        store.get(bad)


def test_names_are_stored_as_one_line_of_visible_text(dlcore_home):
    store = runs.RunStore()
    run_id = store.create(TrainConfig(), "  Ada\n\u202eLovelace\u200b\x00 " + "x" * 100)
    assert store.get(run_id).student == "Ada Lovelace " + "x" * 27


def test_ids_no_run_can_have_are_no_such_run(dlcore_home):
    store = runs.RunStore()
    with pytest.raises(DLCoreError, match="There is no such run"):
        store.get(10**23)  # SQLite's integers end at 2**63 - 1: this used to be an OverflowError
    assert runs.parse_run_id("#12") == 12 and runs.parse_run_id(" 7 ") == 7
    assert [runs.parse_run_id(text) for text in ("²", "-1", "1.5", "9" * 19, "")] == [None] * 5


# ---- what a weights file is checked against before anything is allocated ------------------------

SMALL = TrainConfig(model=ModelSpec(dense=(DenseLayer(16, batch_norm=True),)))
# The network: 4 conv blocks of 256 channels (7x7, same padding, so no shrinking) and 8 dense layers of
# 2,048 units, 1.7 GB of weights; its file holds one 1-element tensor.
COSTLY = TrainConfig(model=ModelSpec("cnn", conv=tuple(ConvBlock(256, kernel=7, padding="same") for _ in range(4)),
                                     dense=tuple(DenseLayer(2048) for _ in range(8))))


def _file(state: dict, config: TrainConfig = SMALL) -> bytes:
    return safetensors_bytes(state, {"format": runs.CHECKPOINT_FORMAT, "config": config.to_json()})


def _small_state() -> dict:
    return {name: tensor.contiguous() for name, tensor in models.build(SMALL.model).state_dict().items()}


def one_kilobyte_network() -> bytes:
    return _file({"0.weight": torch.zeros(1)}, COSTLY)


def test_a_small_file_naming_a_huge_network_is_refused_by_its_cost():
    content = one_kilobyte_network()
    assert len(content) < 2_000
    with pytest.raises(DLCoreError, match="^This network's weights would take 1,717 MiB, over the 119 MiB"):
        runs.load_checkpoint_bytes(content)


def test_the_first_tensor_that_does_not_fit_is_named():
    complete = _small_state()
    missing = {name: tensor for name, tensor in complete.items() if name != "2.running_var"}
    extra = {**complete, "9.weight": torch.zeros(2)}
    reshaped = {**complete, "1.weight": torch.zeros(784, 16)}
    halved = {**complete, "1.bias": complete["1.bias"].half()}
    fits = "^The weights do not fit the configuration's network: "
    for state, problem in [
        (missing, "the file has no tensor '2.running_var'."),
        (extra, "the network has no tensor '9.weight', which the file holds."),
        (reshaped, r"'1.weight' is \[784, 16\] in the file and \[16, 784\] in the network."),
        (halved, "'1.bias' is F16 in the file and F32 in the network."),
    ]:
        with pytest.raises(DLCoreError, match=fits + problem + "$"):
            runs.load_checkpoint_bytes(_file(state))


PEAK = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
print((done.stdout.strip().splitlines() or [""])[-1])
"""
PAGE_IMPORT = """
import json, sys
from dlcore import DLCoreError, export
try:
    print(json.dumps({"run_id": export.import_weights(open(sys.argv[1], "rb").read(), "weights.safetensors")}))
except DLCoreError as exc:
    print(json.dumps({"error": str(exc)}))
"""


def peak_mb(command: list[str]) -> tuple[int, dict]:
    """(the command's peak resident memory in MB, its last stdout line as JSON), run in a fresh process."""
    result = subprocess.run([sys.executable, "-c", PEAK, *command], cwd=REPO, capture_output=True, text=True, check=True)
    peak, last = result.stdout.strip().split("\n", 1)
    return int(peak), json.loads(last)


@pytest.fixture(scope="module")
def legal_import_peak(tmp_path_factory) -> int:
    """What importing a tiny legal file costs: torch, the CLI and scoring on the sample digits."""
    path = tmp_path_factory.mktemp("legal") / "small.safetensors"
    path.write_bytes(_file(_small_state()))
    peak, answer = peak_mb([sys.executable, "-m", "dlcore", "import", str(path), "--json"])
    assert "run_id" in answer
    return peak


@pytest.mark.slow
@pytest.mark.parametrize("way", ["import", "predict", "inspect", "page"])
def test_a_one_kilobyte_file_is_refused_before_any_large_allocation(way, legal_import_peak, tmp_path):
    """Before: 2.3 GB in each way in (the network was built, then found not to fit)."""
    weights, image = tmp_path / "w.safetensors", tmp_path / "seven.png"
    weights.write_bytes(one_kilobyte_network())
    Image.fromarray(seven()).save(image)
    command = {
        "import": ["-m", "dlcore", "import", str(weights), "--json"],
        "predict": ["-m", "dlcore", "predict", "--checkpoint", str(weights), str(image), "--json"],
        "inspect": ["-m", "dlcore", "inspect", "--checkpoint", str(weights), str(image), "--json"],
        "page": ["-c", PAGE_IMPORT, str(weights)],
    }[way]
    peak, answer = peak_mb([sys.executable, *command])
    assert peak < legal_import_peak + 100, f"{peak} MB against {legal_import_peak} MB for a legal import"
    assert answer["error"].startswith("This network's weights would take 1,717 MiB")


def _kept_run(store: runs.RunStore, data: bytes) -> int:
    run_id = store.create(TrainConfig(), status="running")
    store.update(run_id, status="done", checkpoint=str(store.keep_checkpoint(run_id, data)))
    return run_id


def test_the_same_weights_are_kept_once_and_deleting_one_run_leaves_the_other_whole(dlcore_home):
    store = runs.RunStore()
    data = runs.checkpoint_bytes(models.build(TrainConfig().model), TrainConfig())
    first, second = _kept_run(store, data), _kept_run(store, data)
    one, two = store.get(first).checkpoint, store.get(second).checkpoint
    assert one != two and os.path.samefile(one, two)  # two names, one file: the disk holds the bytes once
    assert store.delete(first) == 0  # nothing freed: the other run still links the bytes
    assert not os.path.exists(one) and open(two, "rb").read() == data
    assert runs.load_checkpoint(two)[1] == TrainConfig()
    with pytest.raises(DLCoreError, match=f"no run #{first}"):
        store.get(first)
    assert store.delete(second) == len(data) and os.listdir(store.checkpoints) == []


def test_a_run_that_is_still_active_is_not_deleted(dlcore_home):
    store = runs.RunStore()
    run_id = store.create(TrainConfig())
    with pytest.raises(DLCoreError, match=f"Run #{run_id} is queued; stop it before deleting it."):
        store.delete(run_id)
    assert store.get(run_id).status == "queued"


def test_a_database_from_before_the_disk_budget_counts_the_weights_it_already_keeps(dlcore_home):
    dlcore_home.mkdir()
    kept = dlcore_home / "old.safetensors"
    kept.write_bytes(b"\0" * 5000)
    with sqlite3.connect(dlcore_home / "runs.db") as db:
        db.executescript(runs._SCHEMA)  # the tables as the first version made them
        db.execute("INSERT INTO runs (created, updated, status, config, checkpoint) VALUES (0, 0, 'done', ?, ?)",
                   (TrainConfig().to_json(), str(kept)))
    store = runs.RunStore()
    with store._connect() as db:
        row = db.execute("SELECT sender, stored_bytes, sha256 FROM runs").fetchone()
    assert tuple(row) == ("", 5000, None)
    assert store.get(1).status == "done" and store.get(store.create(TrainConfig())).status == "queued"


def test_runs_recorded_at_the_same_moment_cannot_overshoot_a_disk_share(dlcore_home):
    store = runs.RunStore()
    share = disk.budget(store.root)
    start = threading.Barrier(20)

    def record(_) -> int | None:
        start.wait()
        try:
            return store.create(TrainConfig(), sender="browser-ada", reserve=share.student // 8, budget=share)
        except DLCoreError:
            return None

    with ThreadPoolExecutor(20) as pool:
        accepted = [run_id for run_id in pool.map(record, range(20)) if run_id is not None]
    assert len(accepted) == 8 and len(store.list()) == 8
