"""Transfer learning: a network a finished digit run trained, taken to a new task with few examples of each class.

The course fine-tunes an ImageNet ResNet with its layers frozen under a new head; offline, the app's own digit runs
are the pretrained networks. A transfer run (TrainConfig.source_run, .transfer) keeps its source run's network and
gets a new output layer for the new classes; then either
  frozen    only that new layer learns: the source's features are kept as they are (and read as in inference:
            batch norm's statistics and dropout frozen too), Teachable Machine's way;
  finetune  every weight learns, from where the source run left them;
  scratch   the same network from fresh weights, what the other two are measured against.
The three train side by side as the lanes of one loop (race.Race), on the same batches, so their curves compare.
Few examples (TrainConfig.per_class) are the same first K of each class of a seeded shuffle in every lane.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import torch
from torch import nn

from . import data, drawings, sequences
from .config import TRANSFER_MODES, DLCoreError, TrainConfig
from .runs import RunStore, load_checkpoint

MODES = {mode: TRANSFER_MODES[mode] for mode in ("frozen", "finetune", "scratch")}  # in the order shown
SOURCE_KINDS = ("mlp", "cnn")  # networks whose last layer is the output a new head replaces
# Few examples learn in many short epochs: the recipe every mode trains with unless told otherwise (10 of each of
# 10 classes: 100 images, 10 steps an epoch); a frozen network's one new layer takes larger steps (on Fashion-MNIST
# with 10 of each, 0.63 at lr 0.01 against 0.52 at 0.001; fine-tuning and scratch do best at 0.001)
RECIPE = {"batch_size": 10, "epochs": 10, "lr": 1e-3, "optimizer": "adam"}
MODE_LR = {"frozen": 1e-2}


def source_run(run_id: int, store: RunStore | None = None):
    """The finished run a transfer starts from, checked: it kept its weights and reads images with an MLP or a CNN."""
    run = (store or RunStore()).get(run_id)
    if not run.checkpoint or run.status not in ("done", "stopped"):
        raise DLCoreError(f"Run #{run.id} has no trained weights to start from (its status is {run.status}); "
                          "choose a finished run.")
    if run.config.model.kind not in SOURCE_KINDS or sequences.is_task(run.config.dataset):
        raise DLCoreError(f"Run #{run.id} is a {run.config.model.summary()}; transfer starts from a run that "
                          "classifies images with an MLP or a CNN.")
    return run


def check(config: TrainConfig) -> None:
    """What the schema cannot say of a transfer or few-shot run, each in a sentence, before anything is allocated."""
    if config.per_class and sequences.is_task(config.dataset):
        raise DLCoreError("Examples per class are for image datasets; a sequence task trains on all of its data.")
    if config.dataset.startswith(drawings.PREFIX) and not data.sizes(config.dataset)[1]:
        raise DLCoreError("No class has 3 drawings yet, so none is kept aside to test on: draw at least 3 of each.")
    if config.transfer != "scratch" and not config.source_run:
        raise DLCoreError(f"{MODES[config.transfer]} starts from a finished run's network: name that run "
                          "(source_run, the command line's --from).")


def check_source(config: TrainConfig, store: RunStore | None = None) -> None:
    """Before a transfer run is queued: its source run is here, finished, and of its network. Not part of check: a
    trained transfer run imported on another server no longer needs its source."""
    if config.source_run:
        source = source_run(config.source_run, store)
        if config.model != source.config.model:
            raise DLCoreError(f"A transfer run keeps its source run's network ({source.config.model.summary()}); "
                              "this one asks for another.")


def configs(source_run_id: int, dataset: str, per_class: int, seed: int = 0, modes=tuple(MODES),
            store: RunStore | None = None, **changes) -> list[TrainConfig]:
    """One config per mode: the source run's network on `dataset` with `per_class` examples of each class, trained
    with RECIPE (or `changes`), each checked."""
    source = source_run(source_run_id, store)
    base = TrainConfig(dataset=dataset, model=source.config.model, per_class=per_class, seed=seed,
                       source_run=source.id, device="cpu", **{**RECIPE, **changes})
    made = [replace(base, transfer=mode, lr=changes.get("lr") or MODE_LR.get(mode, base.lr)) for mode in modes]
    for config in made:
        check(config)
        check_source(config, store)
    return made


def class_dataset(store: RunStore, hold_out: str | None = None) -> tuple[str, list[str]]:
    """The class's drawings as they are now, frozen into a dataset (drawings.freeze; with hold_out, tested on that
    student's drawings alone, trained on everyone else's), with the classes left out because they have fewer than 3
    drawings yet: one student's new class does not hold up everyone's training."""
    every = store.drawings()
    counts = Counter(drawing.label for drawing in every)
    short = [label for label, count in counts.items() if count < 3]
    if short and len(counts) - len(short) < 2:
        raise DLCoreError(f"A class trains once it has 3 drawings, and it takes 2 such classes: {', '.join(short)} "
                          f"{'has' if len(short) == 1 else 'have'} fewer; draw more.")
    return drawings.freeze([drawing for drawing in every if drawing.label not in short], hold_out), short


def students(store: RunStore) -> list[str]:
    """The named students who have drawn, in the order they first did: whom a leave-one-out test can hold out."""
    return list(dict.fromkeys(drawing.student for drawing in store.drawings() if drawing.student))


def family(dataset: str) -> str:
    """What a curve over examples per class groups runs by: the dataset, or for the class's drawings any of their
    frozen versions (the class keeps drawing between runs)."""
    return drawings.PREFIX if dataset.startswith(drawings.PREFIX) else dataset


def examples_curve(store: RunStore, source_run_id: int, dataset: str) -> dict[str, dict[int, list[float]]]:
    """"How many examples does it need?": for each mode, the test accuracies of every finished transfer run from this
    source on this task, by examples per class. Each comparison the class trains adds its three points."""
    curve: dict[str, dict[int, list[float]]] = {mode: {} for mode in MODES}
    for run in store.list(("done", "stopped"), with_history=False):
        config = run.config
        if (config.source_run == source_run_id and config.per_class and run.accuracy is not None
                and family(config.dataset) == family(dataset)):
            curve[config.transfer].setdefault(config.per_class, []).append(run.accuracy)
    return {mode: dict(sorted(points.items())) for mode, points in curve.items()}


def start_from_source(model: nn.Sequential, config: TrainConfig) -> None:
    """Give a freshly built network (its new output layer already drawn from the seed) every weight of its source
    run but the output layer's; in frozen mode those weights stop learning. Runs in the worker, which reads the
    source's checkpoint from the runs home on this machine."""
    if config.transfer == "scratch" or not config.source_run:
        return
    source, _ = load_checkpoint(source_run(config.source_run).checkpoint)
    head = str(len(model) - 1)  # nn.Sequential names its layers by position; the last is the output layer
    kept = {name: value for name, value in source.state_dict().items() if name.split(".")[0] != head}
    missing = model.load_state_dict(kept, strict=False).missing_keys
    if any(name.split(".")[0] != head for name in missing):
        raise DLCoreError(f"Run #{config.source_run}'s weights do not fit this network; train from scratch instead.")
    if config.transfer == "frozen":
        features = list(model)[:-1]
        for layer in features:
            layer.requires_grad_(False)
        model.frozen_layers = tuple(features)  # a tuple, not a module: kept out of the state dict; read by the loop


def few_per_class(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Indices of the first `per_class` examples of each class in a shuffle seeded by `seed` (all of a class that
    has fewer), in that shuffle's order: the same few for every lane and mode of a seed."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    shuffled = labels[order]
    chosen = torch.cat([order[shuffled == c][:per_class] for c in torch.unique(labels)])
    place = torch.empty_like(order)
    place[order] = torch.arange(len(order))  # each example's place in the shuffle
    return chosen[place[chosen].argsort()]
