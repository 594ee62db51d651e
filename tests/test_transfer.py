"""Transfer learning: a finished run's network under a new output layer, frozen, fine-tuned or from scratch, on few
examples of each class, through the one loop (three lanes side by side) and the command line."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from dlcore import cli, data, drawings, export, jobs, models, race, transfer
from dlcore.config import DenseLayer, DLCoreError, ModelSpec, TrainConfig
from dlcore.loop import Loop
from dlcore.runs import RunStore, checkpoint_bytes
from tests.test_drawings import canvas, fill

SMALL = ModelSpec("mlp", dense=(DenseLayer(16),))


def finished_run(store: RunStore, spec: ModelSpec = SMALL, seed: int = 7) -> int:
    """A recorded run with weights, as a finished digit run leaves them (drawn from a seed, not trained: what
    transfer takes does not depend on how the weights were reached)."""
    config = TrainConfig(dataset="mnist-sample", model=spec, seed=seed, epochs=1)
    torch.manual_seed(seed)
    model = models.build(spec, config.dataset)
    run_id = store.create(config, status="running")
    path = store.keep_checkpoint(run_id, checkpoint_bytes(model, config))
    store.update(run_id, status="done", checkpoint=str(path))
    return run_id


def source_weights(store: RunStore, run_id: int) -> dict[str, torch.Tensor]:
    from dlcore.runs import load_checkpoint

    return load_checkpoint(store.get(run_id).checkpoint)[0].state_dict()


def built(config: TrainConfig) -> torch.nn.Sequential:
    torch.manual_seed(config.seed)
    model = models.build(config.model, config.dataset)
    transfer.start_from_source(model, config)
    return model


def test_few_per_class_takes_the_same_first_k_of_each_class_of_a_seeded_shuffle():
    labels = torch.tensor([0, 1, 2] * 10 + [3])  # class 3 has one example
    chosen = transfer.few_per_class(labels, 4, seed=5)
    assert torch.bincount(labels[chosen]).tolist() == [4, 4, 4, 1]
    assert torch.equal(chosen, transfer.few_per_class(labels, 4, seed=5))
    assert not torch.equal(chosen, transfer.few_per_class(labels, 4, seed=6))
    assert len(set(chosen.tolist())) == len(chosen)


def test_each_mode_takes_what_it_says_of_the_source_runs_weights():
    store = RunStore()
    source = finished_run(store)
    kept = source_weights(store, source)
    frozen, finetune, scratch = (built(config) for config in transfer.configs(source, "fashion-mnist", 5, store=store))
    for model in (frozen, finetune):
        assert torch.equal(model[1].weight, kept["1.weight"])  # dense1, after the flatten
        assert not torch.equal(model[-1].weight, kept[f"{len(model) - 1}.weight"])  # a new output layer
    assert not torch.equal(scratch[1].weight, kept["1.weight"])
    assert torch.equal(frozen[-1].weight, scratch[-1].weight)  # every lane's new layer drawn from the same seed
    assert [p.requires_grad for p in frozen.parameters()] == [False, False, True, True]
    assert all(p.requires_grad for p in finetune.parameters())
    assert "frozen_layers" not in str(frozen.state_dict().keys())


def test_side_by_side_the_frozen_features_stay_and_the_fine_tuned_ones_move():
    store = RunStore()
    source = finished_run(store)
    kept = source_weights(store, source)
    configs = transfer.configs(source, "mnist-sample", 3, store=store, epochs=2, batch_size=5)
    loop = Loop(configs)
    assert loop.run() == "done"
    frozen, finetune, scratch = (lane.model for lane in loop.lanes)
    assert loop.steps_per_epoch == 6  # 3 of each of 10 classes, in batches of 5
    assert torch.equal(frozen[1].weight, kept["1.weight"])
    assert not torch.equal(frozen[-1].weight, built(configs[0])[-1].weight)
    assert not torch.equal(finetune[1].weight, kept["1.weight"])
    assert all(lane.evaluation is not None for lane in loop.lanes)
    assert [lane.config.lr for lane in loop.lanes] == [transfer.MODE_LR["frozen"], 1e-3, 1e-3]


def test_the_class_drawings_get_a_head_of_their_own_classes():
    store = RunStore()
    source = finished_run(store)
    fill(store, {"circle": 5, "cross": 5, "bar": 5})
    dataset = data.load(drawings.freeze(store.drawings())).name
    config, = transfer.configs(source, dataset, 4, modes=("finetune",), store=store)
    model = built(config)
    assert model[-1].out_features == 3 and data.info(dataset).classes == ("circle", "cross", "bar")
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 3)


@pytest.mark.parametrize("changes, words", [
    ({"transfer": "frozen"}, "starts from a finished run's network"),
    ({"per_class": 5, "dataset": "sine", "loss": "mse"}, "Examples per class are for image datasets"),
])
def test_what_cannot_be_transferred_is_a_sentence(changes, words):
    with pytest.raises(DLCoreError, match=words):
        transfer.check(TrainConfig(**changes))


def test_a_source_must_be_a_finished_picture_classifier_of_the_same_network_before_anything_is_queued():
    store = RunStore()
    source = finished_run(store)
    other = TrainConfig(model=ModelSpec("mlp", dense=(DenseLayer(32),)), source_run=source, transfer="frozen")
    with pytest.raises(DLCoreError, match="keeps its source run's network"):
        transfer.check_source(other, store)
    running = store.create(TrainConfig(model=SMALL), status="running")
    with pytest.raises(DLCoreError, match="no trained weights"):
        transfer.source_run(running, store)
    missing = TrainConfig(model=SMALL, source_run=99, transfer="finetune")
    with pytest.raises(DLCoreError, match="99"):
        jobs.job_manager().submit(missing)
    with pytest.raises(DLCoreError, match="99"):
        race.RaceManager(store).submit([missing, replace(missing, transfer="scratch")])
    assert all(run.config.source_run != 99 for run in store.list())  # nothing was queued


def test_a_trained_transfer_run_imports_where_its_source_run_is_not(tmp_path, monkeypatch):
    store = RunStore()
    configs = transfer.configs(finished_run(store), "mnist-sample", 2, store=store, epochs=1, modes=("finetune",))
    run_id = jobs.job_manager().submit(configs[0])
    jobs.job_manager().wait(run_id)
    name, content = export.bundle(store.get(run_id))
    monkeypatch.setenv("DLCORE_HOME", str(tmp_path / "elsewhere"))
    imported = RunStore().get(export.import_weights(content, name))
    assert imported.config.source_run == configs[0].source_run and imported.accuracy is not None


def test_too_few_drawings_to_test_on_is_a_sentence():
    store = RunStore()
    source = finished_run(store)
    fill(store, {"circle": 2, "cross": 2})
    dataset = drawings.freeze(store.drawings())
    with pytest.raises(DLCoreError, match="draw at least 3 of each"):
        transfer.configs(source, dataset, 2, store=store)


def test_a_comparisons_lanes_are_named_by_mode_and_recorded_as_runs():
    store = RunStore()
    source = finished_run(store)
    configs = transfer.configs(source, "mnist-sample", 2, store=store, epochs=1)
    manager = race.RaceManager(store)
    progress = manager.wait(manager.submit(configs), timeout=300)
    assert [lane.name for lane in progress.lanes] == list(transfer.MODES.values())
    runs = [store.get(lane.run_id) for lane in progress.lanes]
    assert all(run.status == "done" and run.checkpoint for run in runs)
    assert runs[0].message.startswith(race.TRANSFER_NOTE) and "From scratch" in runs[0].message
    assert [run.config.transfer for run in runs] == ["frozen", "finetune", "scratch"]


def test_the_command_line_trains_from_a_folder_of_drawings(tmp_path, capsys):
    from PIL import Image

    store = RunStore()
    source = finished_run(store)
    for shape in ("circle", "cross"):
        (tmp_path / "drawn" / shape).mkdir(parents=True)
        for number in range(4):
            Image.fromarray(canvas(shape, 4 * number)).save(tmp_path / "drawn" / shape / f"{number}.png")
    code = cli.main(["transfer", "--from", str(source), "--data", str(tmp_path / "drawn"), "--per-class", "3",
                     "--mode", "frozen", "--epochs", "2", "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"mode", "per_class", "test_accuracy", "seconds", "checkpoint"} <= set(printed)
    assert printed["mode"] == "frozen" and printed["classes"] == ["circle", "cross"]
    assert 0 <= printed["test_accuracy"] <= 1


def test_the_command_line_refuses_a_source_that_is_not_there(capsys):
    assert cli.main(["transfer", "--from", "41", "--data", "fashion-mnist", "--json"]) != 0
    assert "41" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.goal
@pytest.mark.xfail(strict=True, reason="measured: from the cnn preset trained on mnist-sample, fine-tuning reaches "
                   "0.687 and scratch 0.711 on Fashion-MNIST with 10 of each (bench/transfer.py); the goal is not met")
def test_transfer_beats_scratch_by_five_points_on_fashion_mnist_with_ten_of_each_within_30_s(real_data_dir):
    """The issue's goal, as bench/transfer.py measures it: the median of 3 seeds, each run within 30 s."""
    import statistics
    import time

    from dlcore import jobs

    manager = jobs.job_manager()
    source = manager.submit(TrainConfig(dataset="mnist-sample", model=models.preset("cnn"), epochs=3, device="cpu"))
    manager.wait(source)
    accuracies = {mode: [] for mode in transfer.MODES}
    for seed in range(3):
        started = time.perf_counter()
        loop = Loop(transfer.configs(source, "fashion-mnist", 10, seed, store=manager.store))
        loop.run()
        assert (time.perf_counter() - started) / len(loop.lanes) <= 30
        for lane in loop.lanes:
            accuracies[lane.config.transfer].append(lane.evaluation.accuracy)
    medians = {mode: statistics.median(values) for mode, values in accuracies.items()}
    assert max(medians["frozen"], medians["finetune"]) - medians["scratch"] >= 0.05
