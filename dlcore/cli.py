"""`python -m dlcore`: the same functions the app calls, from a terminal."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
import traceback
import typing
from pathlib import Path

from . import (activations, attention, data, devices, distributed, drawings, export, generative, inside, jobs, models, optim,
               point_gan, predict, preprocess, reinforcement, sequences, sharing, toy, training, transfer, validation)
from .config import (ATTENTION_TASKS, ENVIRONMENTS, GENERATIVE, MAX_EPOCHS, MAX_PER_CLASS, MAX_TEXT_CHARS, SEQUENCE, SEQUENCE_TASKS, DenseLayer, DLCoreError, ModelSpec, PointGanConfig,
                     AgentSettings, SequenceTask, ToyConfig, TrainConfig, bounds)
from .loop import Engine
from .runs import RunStore, load_checkpoint, parse_run_id


def main(argv: list[str] | None = None) -> int:
    """Run one command; an error is a sentence on stderr and exit 2, and with --json also stdout's last line."""
    argv = sys.argv[1:] if argv is None else list(argv)
    rank = _rank()
    as_json = "--json" in argv and rank == 0  # only rank 0 of a group answers
    where = f"rank {rank}" if rank else ""
    try:
        args = _parser().parse_args(argv)
        return args.command(args)
    except _UsageError as exc:
        exc.parser.print_usage(sys.stderr)
        return _fail(str(exc), as_json, where=where or exc.parser.prog)
    except DLCoreError as exc:
        return _fail(str(exc), as_json, where=where)
    except KeyboardInterrupt:
        return _fail("interrupted.", as_json, code=130)
    except Exception as exc:
        if not as_json:
            raise
        traceback.print_exc()
        return _fail(f"unexpected {type(exc).__name__}: {exc}", as_json)


def _rank() -> int:
    """This process's rank in the group a launcher started; 0 alone, or when the launch cannot be used (train says
    why, in JSON with --json: such a process is no other rank's helper)."""
    try:
        return distributed.launch().rank if distributed.launched() else 0
    except DLCoreError:
        return 0


def _fail(message: str, as_json: bool, code: int = 2, where: str = "") -> int:
    """The error on stderr (argparse's way for a bad command line), and with --json as stdout's last line."""
    print(f"{where}: error: {message}" if where else f"error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": f"{where}: {message}" if where else message}))
    return code


class _UsageError(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """argparse that raises on a bad command line instead of exiting, so --json can still answer in JSON."""

    def error(self, message: str):
        raise _UsageError(self, message)


def _manager() -> jobs.JobManager:
    """The job manager without the server's warm-up thread: a thread inside torch at interpreter exit aborts it."""
    return jobs.job_manager(serving=False)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m dlcore", description="Deep Learning Playground engine.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a model and record the run",
                           description="Every setting has a flag; those not given come from --config, else the defaults. "
                                       "Under torchrun, the processes train one model together (data-parallel): "
                                       "--batch-size is the global batch, shared out among them.")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=list(models.PRESETS), help="a seed network (default simple-nn)")
    source.add_argument("--config", type=Path, help="a TrainConfig JSON file")
    add_config_flags(train, source)
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

    look = sub.add_parser("inspect", help="what every layer of a trained model makes of one image")
    look.add_argument("--checkpoint", required=True, help="a run id (see `runs`) or a .safetensors path")
    look.add_argument("image", metavar="IMAGE", help="a PNG/JPEG file of one digit: L, RGB or RGBA, any size")
    look.add_argument("--json", action="store_true",
                      help="print one JSON object: prediction, probabilities and layers ({name, shape, top_units})")
    look.set_defaults(command=inspect_command)

    bring = sub.add_parser("import", help="record weights trained elsewhere as a run, as the pages' import does")
    bring.add_argument("file", type=Path, metavar="FILE", help="a .safetensors file or a zip exported by a playground")
    bring.add_argument("--config", type=Path, help="its TrainConfig JSON file, when the weights hold none")
    bring.add_argument("--student", default="", help="a name shown on the run board")
    bring.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    bring.set_defaults(command=import_command)

    send = sub.add_parser("export", help="write a run as a zip: weights, config and a standalone PyTorch script")
    send.add_argument("run", type=_run_id, metavar="RUN", help="a run id (see `runs`)")
    send.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder to write run-N.zip in")
    send.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    send.set_defaults(command=export_command)

    drop = sub.add_parser("delete", help="delete runs that are over: their records, snapshots and weights",
                          description="Frees disk, and its share of the disk budget, for the student who made each run. "
                                      "Weights another run shares (an identical import) stay on disk for that run.")
    drop.add_argument("runs", type=_run_id, nargs="+", metavar="RUN", help="run ids (see `runs`)")
    drop.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    drop.set_defaults(command=delete_command)

    draw = sub.add_parser("generate", help="train an autoencoder, a VAE or a GAN to draw digits, and judge its drawings",
                          description="Trains through the job manager like `train` and records the run. For an "
                                      "autoencoder it prints the reconstructions' cross-entropy per test digit and how "
                                      "well the codes keep the digits' classes (k-NN on the test digits' codes); for a "
                                      "GAN, the share of 1,000 drawings a digit model reads with >= 90% confidence and "
                                      "the classes it draws (each >= 5% of them).")
    add_generative_flags(draw)
    draw.add_argument("--judge", metavar="RUN", help="a GAN's judge: a classifier run id or .safetensors path on the "
                                                    "same dataset (default: a starter CNN trained for the purpose)")
    draw.add_argument("--student", default="", help="a name shown on the run board")
    draw.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    draw.set_defaults(command=generate_command)

    read = sub.add_parser("sequence", help="train an RNN, an LSTM or a GRU on a sequence task",
                          description="Trains through the job manager like `train` and records the run; prints the "
                                      "task's metric (test_accuracy, test_mse or val_nats_per_char) and grad_by_step: "
                                      "how strongly the loss's gradient reaches each step's input, first step to last "
                                      "(a plain RNN's fades towards the first).")
    read.add_argument("--task", choices=list(SEQUENCE_TASKS), default="smnist",
                      help="smnist: a digit as 28 rows (--dataset picks the digits); sine: the next of ten values; "
                           "memory: a letter across --delay random digits; addition: a+b written as characters; "
                           "text: the next character of Python's documentation, or of --text FILE")
    low, high = bounds(SequenceTask, "delay")
    read.add_argument("--delay", "--steps", dest="delay", type=int, metavar="T",
                      help=f"memory: steps between the letter and the question, {low} to {high} "
                           f"(default {SequenceTask().delay})")
    read.add_argument("--text", metavar="FILE", help=f"text: train on this UTF-8 file's text instead "
                      f"({sequences.MIN_TEXT_CHARS:,} to {MAX_TEXT_CHARS:,} characters)")
    read.add_argument("--sample", type=int, default=sequences.SAMPLE_CHARS, metavar="CHARS",
                      help=f"text: characters to write when trained (default {sequences.SAMPLE_CHARS})")
    read.add_argument("--temperature", type=float, default=0.8, metavar="T",
                      help="text: the sample's temperature, 0.05 to 5 (default 0.8)")
    read.add_argument("--cell", choices=list(SEQUENCE), default="lstm", help="the recurrent layer (default lstm)")
    for name, flag in (("state", "--hidden"), ("cell_layers", "--layers")):
        low, high = bounds(ModelSpec, name)
        read.add_argument(flag, dest=name, type=int, metavar="INT", help=f"{low:,} to {high:,} (default: the course's "
                          f"{getattr(ModelSpec(), name)})")
    _add_training_flags(read, skip=("model", "loss"))
    read.add_argument("--student", default="", help="a name shown on the run board")
    read.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    read.set_defaults(command=sequence_command)

    attend = sub.add_parser("attention", help="train a transformer on text, sorting or digits, and show its attention",
                            description="Trains through the job manager like `train` and records the run; prints the "
                                        "task's metric (val_nats_per_char, test_accuracy, and for sort the share of "
                                        "rows sorted exactly), and with --input every head's attention as "
                                        "[block][head][query][key].")
    attend.add_argument("--task", choices=list(ATTENTION_TASKS), default="text",
                        help="text: the next character of Python's documentation, or of --text FILE; sort: six "
                             "digits put in order; digits: a vision transformer on --dataset's digits")
    attend.add_argument("--text", metavar="FILE", help=f"text: train on this UTF-8 file's text instead "
                        f"({sequences.MIN_TEXT_CHARS:,} to {MAX_TEXT_CHARS:,} characters)")
    for name in ("blocks", "heads", "width", "context"):
        low, high = bounds(ModelSpec, name)
        attend.add_argument(f"--{name}", type=int, metavar="INT",
                            help=f"{low:,} to {high:,} (default: the task's own, e.g. text's "
                                 f"{getattr(attention.PRESETS['text'][0], name)})")
    attend.add_argument("--input", metavar="TEXT|DIGITS|IMAGE", help="once trained, read this and print its attention: "
                        "a prompt (text), six digits (sort) or a picture of a digit (digits)")
    attend.add_argument("--sample", type=int, default=sequences.SAMPLE_CHARS, metavar="CHARS",
                        help=f"text: characters to write when trained (default {sequences.SAMPLE_CHARS})")
    attend.add_argument("--temperature", type=float, default=0.8, metavar="T",
                        help="text: the sample's temperature, 0.05 to 5 (default 0.8)")
    attend.add_argument("--top-k", type=int, default=0, metavar="K",
                        help=f"text: draw from the K likeliest characters only, 1 to {len(sequences.TEXT_ALPHABET)} "
                             "(default 0: from all)")
    _add_training_flags(attend, skip=("model", "loss"))
    attend.add_argument("--student", default="", help="a name shown on the run board")
    attend.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    attend.set_defaults(command=attention_command)

    move = sub.add_parser("transfer", help="take a finished digit run's network to a new task with few examples",
                          description="Trains through the job manager like `train` and records the run: the source "
                                      "run's network with a new output layer, on --per-class examples of each class "
                                      "of --data; prints mode, per_class, test_accuracy, seconds and checkpoint.")
    move.add_argument("--from", dest="source", type=_run_id, required=True, metavar="RUN",
                      help="the finished run (an MLP or a CNN) whose network to start from")
    move.add_argument("--data", required=True, metavar="DATASET|DIR",
                      help=f"a dataset ({', '.join(data.DATASETS)}) or a folder with one folder of PNG drawings per class")
    move.add_argument("--per-class", type=int, default=10, metavar="K",
                      help=f"examples of each class to train on, 1 to {MAX_PER_CLASS:,} (default 10)")
    move.add_argument("--mode", choices=list(transfer.MODES), default="finetune",
                      help="frozen: only the new output layer learns; finetune: every weight, from the source "
                           "run's; scratch: the same network from fresh weights (default finetune)")
    _add_training_flags(move, skip=("model", "loss", "dataset", "per_class", "source_run", "transfer"))
    move.add_argument("--student", default="", help="a name shown on the run board")
    move.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    move.set_defaults(command=transfer_command)

    act = sub.add_parser("rl", help="train an agent by reinforcement learning: a DQN in CartPole, a Q-table in a gridworld",
                         description="Trains through the job manager like `train` and records the run; prints env, "
                                     "algo, steps, seconds, eval_return (the mean return of "
                                     "greedy episodes after training), best_return (of a training episode) and "
                                     "checkpoint; in the gridworld also optimal_share, the share of cells where its "
                                     "greedy action is an optimal one (dynamic programming's).")
    act.add_argument("--env", choices=list(ENVIRONMENTS), default="cartpole")
    act.add_argument("--algo", choices=list(reinforcement.ALGORITHMS),
                     help="dqn, double-dqn (a network) or q-learning (a table: the gridworld's); default: the "
                          "environment's own (double-dqn in CartPole, q-learning in the gridworld)")
    act.add_argument("--steps", type=int, metavar="N", help=f"environment steps, in thousands ({reinforcement.EPOCH_STEPS:,}"
                     f" to {reinforcement.EPOCH_STEPS * MAX_EPOCHS:,}; default 50,000 in CartPole, 20,000 in the gridworld)")
    act.add_argument("--hidden", type=_units, metavar="UNITS,...", help="a DQN's hidden layers (default 256,256)")
    add_schema_flags(act, AgentSettings)
    _add_training_flags(act, skip=("model", "loss", "dataset", "epochs", "per_class", "source_run", "transfer"))
    act.add_argument("--student", default="", help="a name shown on the run board")
    act.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    act.set_defaults(command=rl_command)

    play = sub.add_parser("toy", help="train a 2-D playground network (TF Playground's datasets) and score it",
                          description="The 2-D playground's trainer; every setting has a flag, the rest are defaults.")
    add_schema_flags(play)
    play.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    play.set_defaults(command=toy_command)

    lab = sub.add_parser("point-gan", help="train GAN Lab's 2-D GAN on a 2-D playground dataset's points",
                         description="A GAN whose real data are 2-D points; prints the Jensen-Shannon divergence "
                                     "between its samples and the points (bits: 0 the same, 1 apart).")
    add_schema_flags(lab, PointGanConfig)
    lab.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    lab.set_defaults(command=point_gan_command)
    return parser


def _run_id(text: str) -> int:
    run_id = parse_run_id(text)
    if run_id is None:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a run id; `python -m dlcore runs` lists them")
    return run_id


def _read(path: Path, what: str, limit: int) -> bytes:
    """At most `limit` bytes: a device such as /dev/zero, or a huge file, is refused instead of read forever."""
    try:
        with path.open("rb") as file:
            content = file.read(limit + 1)
    except OSError as exc:
        raise DLCoreError(f"Cannot read the {what} {path} ({exc.strerror}).") from exc
    if len(content) > limit:
        raise DLCoreError(f"The {what} {path} is over the {limit / 2**20:g} MiB a {what} may be.")
    return content


def add_config_flags(parser: argparse.ArgumentParser, network: argparse._MutuallyExclusiveGroup) -> None:
    """A flag for every TrainConfig field, its type and choices taken from the schema and the registries."""
    network.add_argument("--model", type=_network, metavar="NETWORK",
                         help="a network as a setup link writes it, e.g. 'conv=32_64-max&dense=128-gelu-d0.2'")
    _add_training_flags(parser)


def _training_changes(args: argparse.Namespace, skip: tuple[str, ...] = ("model",)) -> dict:
    """The training settings _add_training_flags offered, as given (None: unset, which with_changes ignores)."""
    return {field.name: getattr(args, field.name, None) for field in dataclasses.fields(TrainConfig)
            if field.name not in skip}


def _add_training_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ("model",)) -> None:
    for field in dataclasses.fields(TrainConfig):
        if field.name in skip or field.name == "agent":  # an agent's settings: the rl command's own flags
            continue
        kind = type(field.default)
        flag = "--" + field.name.replace("_", "-")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif field.name == "dataset":  # digits; a sequence task names its own (the sequence command's --task)
            parser.add_argument(flag, choices=list(data.DATASETS))
        elif field.name in validation.CHOICES:
            parser.add_argument(flag, choices=list(validation.CHOICES[field.name]))
        elif typing.get_origin(literal := TrainConfig.__pydantic_fields__[field.name].annotation) is typing.Literal:
            parser.add_argument(flag, choices=list(typing.get_args(literal)))
        else:
            low, high = bounds(TrainConfig, field.name)
            parser.add_argument(flag, type=kind, metavar=kind.__name__.upper(), help=f"{low:,} to {high:,}")


def add_generative_flags(parser: argparse.ArgumentParser) -> None:
    """The model kind and its code from ModelSpec, its encoder's widths, and every training setting from TrainConfig
    (the loss is the model's own)."""
    parser.add_argument("--model", choices=list(GENERATIVE), default="vae",
                        help="an autoencoder, a VAE or a GAN (default vae; a GAN's --latent is its noise, default 100)")
    for name in ("latent", "beta"):
        low, high = bounds(ModelSpec, name)
        number = type(ModelSpec.__dataclass_fields__[name].default)
        parser.add_argument(f"--{name}", type=number, metavar=number.__name__.upper(), help=f"{low:,} to {high:,}")
    parser.add_argument("--hidden", type=_units, metavar="UNITS,...",
                        help="the encoder's hidden layers, mirrored by the decoder (default 256, the course's)")
    parser.add_argument("--activation", choices=activations.HIDDEN_ACTIVATIONS, help="of every hidden layer (default relu)")
    _add_training_flags(parser, skip=("model", "loss"))


def add_schema_flags(parser: argparse.ArgumentParser, schema=ToyConfig) -> None:
    """A flag for every field of a schema (ToyConfig, PointGanConfig, AgentSettings): choices from its Literal or
    registry, lists as commas, switches as --x/--no-x, bounds in help."""
    for field in dataclasses.fields(schema):
        flag = "--" + field.name.replace("_", "-")
        kind = schema.__pydantic_fields__[field.name].annotation
        if field.name == "features":
            parser.add_argument(flag, type=_names, metavar="NAME,...", help=", ".join(toy.FEATURES))
        elif isinstance(field.default, tuple):
            parser.add_argument(flag, type=_units, metavar="UNITS,...", help="neurons per hidden layer, e.g. 8,8"
                                + ("; '' for none" if schema is ToyConfig else ""))
        elif field.name == "optimizer" and schema is ToyConfig:
            parser.add_argument(flag, choices=list(optim.OPTIMIZERS))
        elif typing.get_origin(kind) is typing.Literal:
            parser.add_argument(flag, choices=list(typing.get_args(kind)))
        elif isinstance(field.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            number = type(field.default)
            low, high = bounds(schema, field.name)
            what = "PCT" if field.name == "noise" else number.__name__.upper()
            parser.add_argument(flag, type=number, metavar=what, help=f"{low:,} to {high:,}")


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _units(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a list of whole numbers such as 8,8") from None


def toy_command(args: argparse.Namespace) -> int:
    """Train one 2-D network to the end and score its test points."""
    config = ToyConfig().with_changes(**{field.name: getattr(args, field.name) for field in dataclasses.fields(ToyConfig)})
    jobs.tiny_work_threads()
    result = toy.train(config)
    if args.json:
        print(json.dumps({**result, "config": config.to_dict()}))
    else:
        accuracy = f"test accuracy {result['test_accuracy']:.1%}, " if result["test_accuracy"] is not None else ""
        print(f"{config.dataset}: {accuracy}test loss {result['test_loss']:.4f}, "
              f"train loss {result['train_loss']:.4f} after {result['epochs']} epochs in {result['seconds']:.1f}s")
    return 0


def point_gan_command(args: argparse.Namespace) -> int:
    """Train one 2-D GAN to the end and measure how near its samples are to the points."""
    config = PointGanConfig().with_changes(**{field.name: getattr(args, field.name)
                                              for field in dataclasses.fields(PointGanConfig)})
    jobs.tiny_work_threads()
    result = point_gan.train(config)
    if args.json:
        print(json.dumps({**result, "config": config.to_dict()}))
    else:
        print(f"{config.dataset} ({point_gan.COLOURS[config.colour]}): divergence {result['divergence']:.3f} bits, "
              f"discriminator right on {result['d_accuracy']:.0%} after {result['epochs']} epochs in "
              f"{result['seconds']:.1f}s")
    return 0


def generative_config(args: argparse.Namespace) -> TrainConfig:
    """The run a `generate` command line asks for: the course's networks (a 256-wide hidden layer; a GAN's 100
    numbers of noise and Adam at 2e-4) unless flags say otherwise."""
    hidden = args.hidden if args.hidden is not None else (256,)
    layer = DenseLayer(1, activation=args.activation) if args.activation else DenseLayer(1)
    course = generative.PRESETS["gan"] if args.model == "gan" else ModelSpec(args.model)
    spec = dataclasses.replace(course, dense=tuple(dataclasses.replace(layer, units=units) for units in hidden))
    spec = dataclasses.replace(spec, **{name: getattr(args, name) for name in ("latent", "beta")
                                        if getattr(args, name) is not None})
    base = TrainConfig(model=spec, lr=generative.GAN_LR) if args.model == "gan" else TrainConfig(model=spec)
    return base.with_changes(**_training_changes(args, ("model", "loss")))


def sequence_command(args: argparse.Namespace) -> int:
    """Train a recurrent network on a task through the job manager, then measure how far back its gradient reaches
    (and for text, let it write)."""
    task = SequenceTask(args.task, **({"delay": args.delay} if args.delay is not None else {}))
    text = None
    if args.text is not None:
        if task.task != "text":
            raise DLCoreError("--text is the text task's own text; add --task text.")
        text = _read_text_file(args.text)
    spec = ModelSpec(args.cell, dense=(), **{name: getattr(args, name) for name in ("state", "cell_layers")
                                            if getattr(args, name) is not None})
    base = TrainConfig(dataset=sequences.dataset_name(task, args.dataset or "mnist-sample", text), model=spec,
                       lr=sequences.LR, loss="mse" if task.task == "sine" else "cross-entropy")
    config = base.with_changes(**_training_changes(args, ("model", "loss", "dataset")))
    validation.validate(config)
    devices.resolve_device(config.device)
    data.load(config.dataset)
    if task.task == "text":  # before training, so a bad value costs nothing
        sequences.samples(models.build(spec, config.dataset).eval(), (args.temperature,), args.sample)
    run, progress, seconds = _submit_and_follow(config, args.student)
    if run.status not in ("done", "stopped") or not run.checkpoint:
        raise DLCoreError(run.message or progress.message or f"The run ended {run.status} without weights.")
    model, _ = load_checkpoint(run.checkpoint)
    grads = sequences.grad_by_step(model, *sequences.test_batch(config.dataset, sequences.GRADIENT_DIGITS))
    measured = sequences.metric(config.dataset, run.results)
    summary = {"run_id": run.id, "status": run.status, "message": run.message, "task": task.task,
               "dataset": config.dataset, "cell": args.cell, "epochs": progress.epoch, "seconds": round(seconds, 3),
               "checkpoint": run.checkpoint, **measured, "grad_by_step": [round(value, 6) for value in grads],
               "config": config.to_dict()}
    if task.task == "memory":
        summary["delay"] = task.delay
    if task.task == "addition":
        summary["exact_sums"] = sequences.exact(model, config.dataset)
    if task.task == "text":
        summary["sample"] = sequences.samples(model, (args.temperature,), args.sample)[0]
        summary["temperature"] = args.temperature
    if args.json:
        print(json.dumps(summary))
        return 0
    (name, value), = measured.items()
    shown = f"{value:.1%}" if name == "test_accuracy" else f"{value:.4g}"
    print(f"run #{run.id} {run.status}: {config.model.summary()} on {config.dataset} after {progress.epoch} epochs in "
          f"{seconds:.1f}s; {name.replace('_', ' ')} {shown}; the gradient at the first step is "
          f"{grads[0] / max(grads[-1], 1e-12):.2g} times the last step's; weights: {run.checkpoint}")
    if "sample" in summary:
        print(f"It writes, at temperature {args.temperature:g}:\n{summary['sample']}")
    return 0


def attention_command(args: argparse.Namespace) -> int:
    """Train a transformer on a task through the job manager, then say how well it does it (and for text, let it
    write); with --input, read that and print every head's attention."""
    if args.text is not None and args.task != "text":
        raise DLCoreError("--text is the text task's own text; add --task text.")
    text = _read_text_file(args.text) if args.text is not None else None
    preset, epochs = attention.PRESETS[args.task]
    spec = dataclasses.replace(preset, **{name: getattr(args, name) for name in ("blocks", "heads", "width", "context")
                                          if getattr(args, name) is not None})
    base = TrainConfig(dataset=attention.dataset_name(args.task, args.dataset or "mnist-sample", text), model=spec,
                       lr=attention.LR, epochs=epochs)
    config = base.with_changes(**_training_changes(args, ("model", "loss", "dataset")))
    validation.validate(config)
    devices.resolve_device(config.device)
    data.load(config.dataset)
    reading = _attention_input(args.task, args.input, config.dataset) if args.input is not None else None
    if args.task == "text":  # before training, so a bad value costs nothing
        sequences.samples(models.build(spec, config.dataset).eval(), (args.temperature,), args.sample, top_k=args.top_k)
    run, progress, seconds = _submit_and_follow(config, args.student)
    if run.status not in ("done", "stopped") or not run.checkpoint:
        raise DLCoreError(run.message or progress.message or f"The run ended {run.status} without weights.")
    model, _ = load_checkpoint(run.checkpoint)
    measured = sequences.metric(config.dataset, run.results)
    summary = {"run_id": run.id, "status": run.status, "message": run.message, "task": args.task,
               "dataset": config.dataset, "epochs": progress.epoch, "seconds": round(seconds, 3),
               "checkpoint": run.checkpoint, **measured, "config": config.to_dict()}
    if args.task == "sort":
        summary["exact"] = sequences.exact(model, config.dataset)
    if args.task == "text":
        summary["sample"] = sequences.samples(model, (args.temperature,), args.sample, top_k=args.top_k)[0]
        summary["temperature"], summary["top_k"] = args.temperature, args.top_k
    if reading is not None:
        read = reading(model)
        summary.update(input=args.input, tokens=read.labels, answer=read.answer,
                       attention=[[[[round(w, 5) for w in row] for row in head] for head in block]
                                  for block in read.weights.tolist()])
    if args.json:
        print(json.dumps(summary))
        return 0
    (name, value), = measured.items()
    shown = f"{value:.1%}" if name == "test_accuracy" else f"{value:.4g}"
    exact = f", {summary['exact']:.1%} of held-out rows sorted exactly" if "exact" in summary else ""
    print(f"run #{run.id} {run.status}: {config.model.summary()} on {config.dataset} after {progress.epoch} epochs in "
          f"{seconds:.1f}s; {name.replace('_', ' ')} {shown}{exact}; weights: {run.checkpoint}")
    if "sample" in summary:
        print(f"It writes, at temperature {args.temperature:g}:\n{summary['sample']}")
    if reading is not None:
        print(f"It reads {''.join(read.labels) if args.task != 'digits' else args.input} and answers {read.answer}; "
              f"its last block's heads attend most, from the last token, to: "
              + ", ".join(read.labels[int(head[-1 if args.task != 'digits' else 0].argmax())] for head in read.weights[-1]))
    return 0


def transfer_command(args: argparse.Namespace) -> int:
    """Train one transfer run (transfer.RECIPE unless flags say otherwise) and say how well it reads the new task."""
    if not 1 <= args.per_class <= MAX_PER_CLASS:
        raise DLCoreError(f"--per-class must be from 1 to {MAX_PER_CLASS:,}.")
    dataset = args.data if args.data in data.DATASETS else drawings.read_folder(Path(args.data))
    changes = {name: getattr(args, name) for name in (*transfer.RECIPE, "momentum", "nesterov", "weight_decay",
                                                      "schedule", "device") if getattr(args, name) is not None}
    config, = transfer.configs(args.source, dataset, args.per_class, args.seed or 0, modes=(args.mode,),
                               store=_manager().store, **changes)
    validation.validate(config)
    devices.resolve_device(config.device)
    data.load(config.dataset)
    run, progress, seconds = _submit_and_follow(config, args.student)
    if run.status not in ("done", "stopped") or not run.checkpoint:
        raise DLCoreError(run.message or progress.message or f"The run ended {run.status} without weights.")
    summary = {"run_id": run.id, "status": run.status, "mode": args.mode, "per_class": args.per_class,
               "source_run": args.source, "dataset": config.dataset, "classes": list(data.info(config.dataset).classes),
               "test_accuracy": run.accuracy, "epochs": progress.epoch, "seconds": round(seconds, 3),
               "checkpoint": run.checkpoint, "config": config.to_dict()}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"run #{run.id} {run.status}: {transfer.MODES[args.mode].lower()} from run #{args.source} on "
          f"{args.per_class} examples of each class of {config.dataset}, {progress.epoch} epochs in {seconds:.1f}s; "
          f"test accuracy {run.accuracy:.1%}; weights: {run.checkpoint}")
    return 0


def _attention_input(task: str, given: str, dataset: str):
    """--input checked before training (a bad one costs nothing): how to read it with the trained model."""
    if task == "text":
        if not sequences.clean_text(given):
            raise DLCoreError("--input should be a prompt in letters, digits or punctuation.")
        return lambda model: attention.read_text(model, given)[0]
    if task == "sort":
        attention.check_row(given)
        return lambda model: attention.read_sort(model, given)
    info = data.info(dataset)
    try:
        made = preprocess.mnist_style(preprocess.read(given), info.mean, info.std)
    except preprocess.EmptyImageError:
        raise DLCoreError(f"{given} shows no digit (it is blank or flat); give a picture of a digit.") from None
    return lambda model: attention.read_digit(model, made.normalized, info.classes)[0]


def _read_text_file(path: str) -> str:
    """A student's text file, bounded before it is read whole."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read(MAX_TEXT_CHARS + 1)
    except OSError as exc:
        raise DLCoreError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    return text


def generate_command(args: argparse.Namespace) -> int:
    """Train an autoencoder through the job manager, then score its drawings and its code."""
    config = generative_config(args)
    validation.validate(config)
    devices.resolve_device(config.device)
    data.load(config.dataset)
    run, progress, seconds = _submit_and_follow(config, args.student)
    run_id = run.id
    if run.status not in ("done", "stopped") or not run.checkpoint:
        raise DLCoreError(run.message or progress.message or f"The run ended {run.status} without weights.")
    model, _ = load_checkpoint(run.checkpoint)
    judge = _judge(args.judge, config.dataset) if config.model.kind == "gan" else None
    measured = generative.measures(model, config.dataset, *(judge or ()))
    summary = {"run_id": run_id, "status": run.status, "message": run.message, "model": config.model.kind,
               "epochs": progress.epoch, "seconds": round(seconds, 3), "checkpoint": run.checkpoint,
               **{name: round(value, 4) for name, value in measured.items()}, "config": config.to_dict()}
    if args.json:
        print(json.dumps(summary))
    else:
        judged = (f"{measured['judge_confident_share']:.1%} of its drawings read with confidence, "
                  f"{measured['classes_covered']} classes drawn" if "classes_covered" in measured else
                  f"reconstruction BCE {measured['reconstruction_bce']:.1f} per digit, latent k-NN accuracy "
                  f"{measured['latent_knn_accuracy']:.1%}")
        print(f"run #{run_id} {run.status}: {config.model.summary()} after {progress.epoch} epochs in {seconds:.1f}s; "
              f"{judged}; weights: {run.checkpoint}")
    return 0


def rl_command(args: argparse.Namespace) -> int:
    """Train an agent in its environment through the job manager and say how well its greedy policy does."""
    changes = {name: getattr(args, name) for name in (*AgentSettings.__dataclass_fields__, "optimizer", "lr",
                                                      "momentum", "nesterov", "weight_decay", "schedule",
                                                      "batch_size", "device")}
    config = reinforcement.make_config(args.env, args.algo, args.steps, args.seed or 0, args.hidden, **changes)
    validation.validate(config)
    devices.resolve_device(config.device)
    run, progress, seconds = _submit_and_follow(config, args.student)
    if run.status not in ("done", "stopped") or not run.checkpoint:
        raise DLCoreError(run.message or progress.message or f"The run ended {run.status} without weights.")
    measured = reinforcement.metric(run.results)
    best = max((row["best_return"] for row in run.history.get("epochs", []) if math.isfinite(row["best_return"])),
               default=None)
    summary = {"run_id": run.id, "status": run.status, "message": run.message, "env": config.dataset,
               "algo": reinforcement.algorithm_of(config), "steps": progress.step, "seconds": round(seconds, 3),
               **measured, "eval_returns": run.results.returns, "best_return": best, "checkpoint": run.checkpoint,
               "config": config.to_dict()}
    if args.json:
        print(json.dumps(summary))
        return 0
    optimal = f", the best action in {measured['optimal_share']:.0%} of cells" if "optimal_share" in measured else ""
    print(f"run #{run.id} {run.status}: {reinforcement.ALGORITHMS[summary['algo']].title} in {config.dataset} after "
          f"{progress.step:,} steps in {seconds:.1f}s; greedy return {measured['eval_return']:.1f}{optimal} (best "
          f"training episode {best if best is not None else 'none'}); weights: {run.checkpoint}")
    return 0


def _judge(reference: str | None, dataset: str) -> tuple:
    """(classifier, its dataset) to read a GAN's drawings: the one named, else a starter CNN trained here for the
    purpose on the GAN's dataset (seconds), recorded nowhere."""
    if reference is not None:
        judge = predict.load(reference)
        if judge.config.model.generative:
            raise DLCoreError(f"{reference} is not a classifier; name a run that reads digits to judge the drawings.")
        return judge.model, judge.config.dataset
    trainer = training.Trainer(dataclasses.replace(predict.STARTER_CONFIG, dataset=dataset))
    trainer.run()
    if trainer.model is None:
        raise DLCoreError(f"The judge could not be trained ({trainer.progress().message}); name one with --judge.")
    return trainer.model, dataset


def _network(text: str) -> ModelSpec:
    shared = sharing.network_from_link(text)
    if shared is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a network; write it as a setup link does, "
                                         "e.g. 'conv=32_64-max&dense=128', or name a preset")
    return shared


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    if args.config is not None:
        config = TrainConfig.from_json(_read(args.config, "config file", export.MAX_CONFIG_BYTES).decode("utf-8", "replace"))
    else:
        config = TrainConfig(model=args.model or models.preset(args.preset or "simple-nn"))
    return config.with_changes(**_training_changes(args))


def train_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    validation.validate(config)  # a refused setting is reported before any data is read
    if distributed.launched():
        distributed.check(config)
        with distributed.joined(config.device) as group:
            return _train(args, config, group)
    devices.resolve_device(config.device)  # so is a missing GPU
    data.load(config.dataset)  # and a missing dataset, with the fetch attempt's sentence
    return _train(args, config, None)


def _train(args: argparse.Namespace, config: TrainConfig, group: distributed.Group | None) -> int:
    """Train and record one run; in a group, every process trains and rank 0 alone records and reports."""
    if group is not None:
        distributed.load_in_turn(config.dataset, group)
        if group.rank != 0:
            return _help_train(config, group)
    run, progress, seconds = _submit_and_follow(config, args.student, Engine(group=group))
    run_id = run.id
    summary = {
        "run_id": run_id,
        "status": run.status,
        "message": run.message,
        "test_accuracy": run.accuracy,
        "epochs": progress.epoch,
        "seconds": round(seconds, 3),
        "samples_per_sec": round(progress.samples_per_sec, 1),
        "device": progress.device,
        "world_size": group.world if group else 1,
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


def _submit_and_follow(config: TrainConfig, student: str, engine: Engine = Engine()):
    """Submit a run to the job manager and draw its progress until it ends (Ctrl-C stops it, keeping what it
    learned): (the run as recorded, its last progress, seconds from submit to end)."""
    manager = _manager()
    started = time.perf_counter()
    run_id = manager.submit(config, student=student, engine=engine)
    try:
        progress = _follow(manager, run_id)
    except KeyboardInterrupt:
        manager.stop(run_id)
        progress = manager.wait(run_id)
    return manager.store.get(run_id), progress, time.perf_counter() - started


def _help_train(config: TrainConfig, group: distributed.Group) -> int:
    """A rank other than 0: train beside the others, record and print nothing; a failure is its sentence."""
    trainer = training.Trainer(config, engine=Engine(group=group))
    trainer.start()
    try:
        progress = jobs.wait_for_end(trainer.progress)
    except KeyboardInterrupt:
        trainer.stop()
        progress = jobs.wait_for_end(trainer.progress)
    if progress.status == "failed":
        raise DLCoreError(progress.message)
    return 0


def _follow(manager: jobs.JobManager, run_id: int) -> training.Progress:
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


def inspect_command(args: argparse.Namespace) -> int:
    """Inside the network's digit path: the Draw page's preprocessing, then every layer's output shape and strongest
    units."""
    classifier = predict.load(args.checkpoint)
    try:
        steps, _ = predict.classify(classifier, preprocess.read(args.image))
    except preprocess.EmptyImageError:
        raise DLCoreError(f"{args.image} shows no digit (it is blank or flat); give a picture of a digit.") from None
    path = inside.trace(classifier.model, classifier.config, steps.normalized)
    if args.json:
        print(json.dumps(path.to_dict()))
        return 0
    for layer in path.layers:
        top = ", ".join(f"{unit['unit']} ({unit['value']:.2f})" for unit in layer.top_units())
        print(f"{layer.name:<22} {' x '.join(map(str, layer.shape)):<14} strongest: {top}")
    print(f"prediction: {classifier.info.classes[path.prediction]} ({path.probabilities[path.prediction]:.1%})")
    return 0


def import_command(args: argparse.Namespace) -> int:
    """The pages' import: the same checks, scoring and sentences; prints the new run's id."""
    if args.file.is_file():
        export.check_size(args.file.stat().st_size, args.file.name)  # before reading a file too big to accept
    content = _read(args.file, "weights file", export.MAX_IMPORT_BYTES)
    config_json = _read(args.config, "config file", export.MAX_CONFIG_BYTES) if args.config is not None else None
    store = RunStore()
    run = store.get(export.import_weights(content, args.file.name, config_json, student=args.student, store=store))
    if args.json:
        print(json.dumps({"run_id": run.id, "status": run.status, "message": run.message, "test_accuracy": run.accuracy,
                          "checkpoint": run.checkpoint, "config": run.config.to_dict()}))
    else:
        print(run.message, file=sys.stderr)
        print(run.id)
    return 0


def delete_command(args: argparse.Namespace) -> int:
    """Delete each run in turn; a run still active, or not there, stops the command with its sentence."""
    store = RunStore()
    freed = {run_id: store.delete(run_id) for run_id in args.runs}
    if args.json:
        print(json.dumps({"deleted": list(freed), "bytes_freed": sum(freed.values())}))
    else:
        for run_id, size in freed.items():
            print(f"run #{run_id} deleted; {size / 2**20:,.1f} MiB of disk freed")
    return 0


def export_command(args: argparse.Namespace) -> int:
    """The run board's export: writes the zip it downloads into DIR."""
    name, content = export.bundle(RunStore().get(args.run))
    path = args.out / name
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        raise DLCoreError(f"Cannot write {path} ({exc.strerror}); give --out a folder you can write to.") from exc
    if args.json:
        print(json.dumps({"run_id": args.run, "zip": str(path), "bytes": len(content)}))
    else:
        print(path)
    return 0
