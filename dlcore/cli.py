"""`python -m dlcore`: the same functions the app calls, from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import data, models, optim, predict, training
from .config import DLCoreError, TrainConfig
from .runs import RunStore


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except DLCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dlcore", description="Deep Learning Playground engine.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a model and record the run")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=list(models.PRESETS), help="a seed network (default simple-nn)")
    source.add_argument("--config", type=Path, help="a TrainConfig JSON file")
    train.add_argument("--dataset", choices=list(data.DATASETS))
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--optimizer", choices=list(optim.OPTIMIZERS))
    train.add_argument("--lr", type=float)
    train.add_argument("--momentum", type=float)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--schedule", choices=list(optim.SCHEDULES))
    train.add_argument("--loss", choices=list(optim.LOSSES))
    train.add_argument("--device", choices=list(training.DEVICES))
    train.add_argument("--seed", type=int)
    train.add_argument("--student", default="", help="a name shown on the run board")
    train.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    train.set_defaults(command=train_command)

    runs = sub.add_parser("runs", help="list recorded runs")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(command=runs_command)

    datasets = sub.add_parser("datasets", help="list datasets and where they were found")
    datasets.add_argument("--json", action="store_true")
    datasets.set_defaults(command=datasets_command)

    classify = sub.add_parser("predict", help="read digits from image files with a trained model")
    classify.add_argument("--checkpoint", required=True, help="a run id (see `runs`) or a .safetensors path")
    classify.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files: L, RGB or RGBA, any size")
    classify.add_argument("--json", action="store_true", help="print a JSON list, one object per image")
    classify.set_defaults(command=predict_command)
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    if args.config is not None:
        try:
            config = TrainConfig.from_json(args.config.read_text())
        except OSError as exc:
            raise DLCoreError(f"Cannot read the config file {args.config} ({exc.strerror}).") from exc
    else:
        config = TrainConfig(model=models.preset(args.preset or "simple-nn"))
    return config.with_changes(
        dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule, loss=args.loss,
        device=args.device, seed=args.seed,
    )


def train_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    training.resolve_device(config.device)  # a missing GPU is reported before anything is queued
    data.load(config.dataset)  # so is a missing dataset, with the fetch attempt's sentence
    manager = training.job_manager()
    started = time.perf_counter()
    run_id = manager.submit(config, student=args.student)
    try:
        progress = _follow(manager, run_id)
    except KeyboardInterrupt:
        manager.stop(run_id)
        progress = manager.wait(run_id)
    run = manager.store.get(run_id)
    seconds = time.perf_counter() - started
    summary = {
        "run_id": run_id,
        "status": run.status,
        "message": run.message,
        "test_accuracy": run.accuracy,
        "epochs": progress.epoch,
        "seconds": round(seconds, 3),
        "samples_per_sec": round(progress.samples_per_sec, 1),
        "device": progress.device,
        "checkpoint": run.checkpoint,
        "config": config.to_dict(),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        accuracy = f"test accuracy {run.accuracy:.2%}" if run.accuracy is not None else run.message
        print(f"run #{run_id} {run.status}: {accuracy} in {seconds:.1f}s; weights: {run.checkpoint or 'none'}")
    if run.status not in ("done", "stopped"):
        print(f"error: {run.message or progress.message}", file=sys.stderr)  # a full disk may keep the end unrecorded
        return 1
    return 0


def _follow(manager: training.JobManager, run_id: int) -> training.Progress:
    """Draw a progress bar on stderr until the run ends."""
    while True:
        progress = manager.progress(run_id)
        if progress.finished:
            sys.stderr.write("\n")
            return progress
        width = 30
        filled = int(progress.fraction * width)
        loss = f"loss {progress.step_losses[-1]:.4f}" if progress.step_losses else progress.status
        eta = f"ETA {progress.eta:.0f}s" if progress.eta is not None else ""
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] epoch {min(progress.epoch + 1, progress.epochs)}/"
            f"{progress.epochs} {loss} {progress.samples_per_sec:,.0f} samples/s {eta}   "
        )
        sys.stderr.flush()
        time.sleep(0.2)


def runs_command(args: argparse.Namespace) -> int:
    runs = RunStore().list(with_history=False)  # not the job manager: its warm-up thread could abort the exit
    if args.json:
        print(json.dumps([
            {"run_id": r.id, "status": r.status, "dataset": r.config.dataset, "model": r.config.model.summary(),
             "optimizer": r.config.optimizer, "test_accuracy": r.accuracy, "seconds": r.seconds,
             "device": r.device, "student": r.student, "created": r.created, "checkpoint": r.checkpoint}
            for r in runs
        ]))
        return 0
    if not runs:
        print("No runs yet; start one with `python -m dlcore train`.")
    for r in runs:
        accuracy = f"{r.accuracy:.2%}" if r.accuracy is not None else "-"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
        print(f"#{r.id:<5} {when}  {r.status:<11} {accuracy:>7}  {r.config.dataset:<14} {r.config.model.summary()}, {r.config.optimizer}")
    return 0


def datasets_command(args: argparse.Namespace) -> int:
    statuses = [data.status(name) for name in data.DATASETS]
    if args.json:
        print(json.dumps([s.__dict__ for s in statuses]))
        return 0
    for s in statuses:
        if s.available:
            print(f"{s.name:<14} {s.train_size:>6,} train / {s.test_size:>6,} test ({s.test_source}); found in {s.where}")
        else:
            print(f"{s.name:<14} missing: {s.where}")
    return 0


def predict_command(args: argparse.Namespace) -> int:
    """The Draw page's code path: MNIST-style preprocessing, then the model's probabilities."""
    results = predict.predict_files(predict.load(args.checkpoint), args.images)
    if args.json:
        print(json.dumps(results))
        return 0
    for result in results:
        confidence = max(result["probabilities"])
        print(f"{result['image']}: {result['prediction']} ({confidence:.1%})")
    return 0
