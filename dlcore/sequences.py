"""Recurrent networks: an RNN, an LSTM or a GRU reading a sequence a step at a time, on the course's tasks.

A recurrent network is a model like any other here (a ModelSpec of kind rnn, lstm or gru), so the one loop, the job
API, the runs store and export take it as they take an MLP. Each task's data is a dataset of its own name: a digit
read row by row (any digit dataset: `smnist`), the next point of a sine wave (`sine`), a symbol remembered across a
delay (`memory-T`), a sum written as characters (`addition`), the next character of English (`text`, or
`text-<hash>` for a student's own). What is recurrent networks' own is time: the state carried from step to step,
the gates that decide what it keeps, and how far back the loss's gradient still reaches (grad_by_step), the
vanishing gradient of the Activation lab, through time instead of depth.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from . import data
from .config import ENVIRONMENTS, IMAGE_SIZE, MAX_DELAY, MAX_TEXT_CHARS, DLCoreError, ModelSpec, SequenceTask, home
from .standalone import LOSS_FUNCTIONS, LastStep, LastSteps, OneHot, Recurrent

GRADIENT_DIGITS = 200  # test sequences grad_by_step averages over
LR = 3e-3  # Adam's rate for every task: at 1e-3 a 1x128 LSTM took a few epochs more to read 90% of the sample
GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # weight blocks per layer: an LSTM's input, forget, cell and output gates
GATE_NAMES = {"rnn": (), "lstm": ("input", "forget", "output"), "gru": ("reset", "update")}  # what a page shows
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
PRESETS: dict[str, ModelSpec] = {
    # The course's SimpleRNN and SimpleLSTM (hidden 20, 2 layers, a linear layer on the last step).
    "simple-rnn": ModelSpec("rnn", dense=(), state=20, cell_layers=2),
    "simple-lstm": ModelSpec("lstm", dense=(), state=20, cell_layers=2),
    "simple-gru": ModelSpec("gru", dense=(), state=20, cell_layers=2),
    # Wide enough to read a digit well in a few epochs on a CPU.
    "lstm-128": ModelSpec("lstm", dense=(), state=128, cell_layers=1),
}

# The data of the made-up tasks are the same for every run: drawn once from this seed.
DATA_SEED = 20261204
SINE_WINDOW = 10  # the course's: ten values, then guess the next
SINE_SIZES = (4_000, 1_000)  # (train, test) windows
MEMORY_SYMBOLS = "ABCDEFGH"  # what is to be remembered: chance is one in eight
MEMORY_NOISE = "01234567"  # what fills the delay
MEMORY_SIZES = (4_000, 1_000)
ADDITION_DIGITS = 2  # Keras' example: a+b with a and b below 100, 99% per character in 55 epochs
ADDITION_TEST = 1_000  # of the 10,000 sums; the rest train
SORT_DIGITS = 6  # minGPT's lesson: a row of digits, then the same digits in order
SORT_SIZES = (20_000, 2_000)  # distinct rows of the million there are, none of the test ones trained on
TEXT_STEPS = 64  # characters a training sequence reads (and predicts, one step ahead)
TEXT_STRIDE = 32  # training sequences start every this many characters, so each character is seen in two contexts
TEXT_HELD_OUT = 0.1  # the corpus's last tenth is held out: val_nats_per_char is measured on it
MIN_TEXT_CHARS = 2_000  # a student's own text: fewer is a few sentences, nothing to learn the language from
TEXT_ALPHABET = "\n" + "".join(chr(code) for code in range(32, 127))  # printable ASCII and line breaks: 96 symbols
_TYPOGRAPHY = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "…": "...", "\t": "    "})
TEMPERATURES = (0.2, 0.5, 0.8, 1.0, 1.5)  # what a live sample is drawn at: recurrentjs's slider's range
SAMPLE_CHARS = 200
MAX_SAMPLE_CHARS = 2_000


@dataclass(frozen=True)
class Task:
    """A task's shape: what each step reads (values or symbols) and what is answered, at which steps."""

    name: str  # smnist, sine, memory, addition, text
    title: str
    steps: int
    features: int  # numbers read per step (a row's pixels, one value, or one of `symbols` one-hot)
    symbols: str  # the alphabet a step reads, "" when it reads numbers
    outputs: int  # classes per answer; 1 for a value
    answered: int  # the last steps that answer (1: only the last; steps: every step, one ahead)
    classes: tuple[str, ...]  # what the answers are called
    metric: str  # what the CLI reports: test_accuracy, test_mse or val_nats_per_char
    delay: int = 0  # memory's

    @property
    def values(self) -> bool:
        """Whether the answer is a number (sine) rather than a class."""
        return self.outputs == 1

    @property
    def every_step(self) -> bool:
        return self.answered == self.steps


def smnist(dataset: str) -> Task:
    classes = data.info(dataset).classes
    return Task("smnist", "Digits read row by row", IMAGE_SIZE, IMAGE_SIZE, "", len(classes), 1, classes,
                "test_accuracy")


SINE = Task("sine", "The next point of a sine wave", SINE_WINDOW, 1, "", 1, 1, (), "test_mse")
ADDITION_ALPHABET = "0123456789+= "
ADDITION_QUESTION = 2 * ADDITION_DIGITS + 1  # "12+34", padded with spaces
ADDITION_ANSWER = ADDITION_DIGITS + 1  # "46 ": the sum, padded
ADDITION = Task("addition", "Sums written as characters", ADDITION_QUESTION + ADDITION_ANSWER, len(ADDITION_ALPHABET),
                ADDITION_ALPHABET, len(ADDITION_ALPHABET), ADDITION_ANSWER, tuple(ADDITION_ALPHABET), "test_accuracy")
TEXT = Task("text", "The next character of English", TEXT_STEPS, len(TEXT_ALPHABET), TEXT_ALPHABET,
            len(TEXT_ALPHABET), TEXT_STEPS, tuple(TEXT_ALPHABET), "val_nats_per_char")


SORT_ALPHABET = "0123456789= "
SORT = Task("sort", "Digits put in order", 2 * SORT_DIGITS, len(SORT_ALPHABET), SORT_ALPHABET, 10, SORT_DIGITS,
            tuple(SORT_ALPHABET[:10]), "test_accuracy")


def memory(delay: int) -> Task:
    alphabet = MEMORY_SYMBOLS + MEMORY_NOISE + "?"
    return Task("memory", f"Remember a letter for {delay} steps", delay + 2, len(alphabet), alphabet,
                len(MEMORY_SYMBOLS), 1, tuple(MEMORY_SYMBOLS), "test_accuracy", delay)


def dataset_name(task: SequenceTask, digits: str = "mnist-sample", text: str | None = None) -> str:
    """The dataset a task's runs train on: the digits for smnist; memory-T; text, or text-<hash> for own text."""
    if task.task == "smnist":
        return digits
    if task.task == "memory":
        return f"memory-{task.delay}"
    if task.task == "text" and text is not None:
        return keep_text(text)
    return task.task


def task_of(dataset: str) -> Task:
    """The task a dataset is for; a digit dataset is read row by row."""
    if data.reads_images(dataset):
        return smnist(dataset)
    if dataset == "sine":
        return SINE
    if dataset == "addition":
        return ADDITION
    if dataset == "sort":
        return SORT
    if dataset == "text" or re.fullmatch(r"text-[0-9a-f]{16}", dataset):
        return TEXT
    if match := re.fullmatch(r"memory-([0-9]{1,3})", dataset):
        if 1 <= int(match[1]) <= MAX_DELAY:
            return memory(int(match[1]))
    raise DLCoreError(f"Unknown dataset '{dataset[:40]}'; choose one of: {', '.join(data.DATASETS)}, sine, "
                      f"memory-T (T from 1 to {MAX_DELAY}), addition, sort or text.")


def is_task(dataset: str) -> bool:
    """Whether a dataset is a sequence task's own data, not pictures nor an environment."""
    return not data.reads_images(dataset) and dataset not in ENVIRONMENTS


def info(dataset: str) -> data.DatasetInfo:
    """A task's dataset as data.info describes digits': its title and its answers' names."""
    task = task_of(dataset)
    title = "Your own text" if dataset.startswith("text-") else task.title
    return data.DatasetInfo(dataset, title, task.classes, 0.0, 1.0)


# ---- the tasks' data ------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskData:
    """A task's sequences and answers, train and test, as the loop takes a dataset's (data.Dataset.tensors)."""

    info: data.DatasetInfo
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str
    test_source: str

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def train_labels(self) -> torch.Tensor:
        return self.train_y

    @property
    def test_labels(self) -> torch.Tensor:
        return self.test_y

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return self.train_x, self.train_y, self.test_x, self.test_y


@functools.lru_cache(maxsize=16)
def load(dataset: str) -> TaskData:
    """A task's data, made (or read, for text) once per process: every run of a task sees the same sequences."""
    task = task_of(dataset)
    rng = np.random.default_rng(DATA_SEED)
    if task.name == "sine":
        parts = _sine(rng)
        source = "sine waves of random frequency and phase, drawn here"
    elif task.name == "memory":
        parts = _memory(rng, task.delay)
        source = f"letters to remember across {task.delay} random digits, drawn here"
    elif task.name == "addition":
        parts = _addition(rng)
        source = f"every sum of two numbers below {10 ** ADDITION_DIGITS}, written out here"
    elif task.name == "sort":
        parts = _sort(rng)
        source = f"rows of {SORT_DIGITS} random digits, drawn here"
    else:
        parts = _text(_read_text(dataset))
        source = "Python's own documentation (pydoc_data.topics)" if dataset == "text" else "text given by a student"
    test_source = "the held-out last tenth of the text" if task.name == "text" else f"{len(parts[3]):,} held-out sequences"
    return TaskData(info(dataset), *parts, source, test_source)


def _sine(rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    total = sum(SINE_SIZES)
    frequency = rng.uniform(0.1, 0.6, (total, 1))  # radians per step: 10 to 60 steps a period
    phase = rng.uniform(0, 2 * math.pi, (total, 1))
    waves = np.sin(frequency * np.arange(SINE_WINDOW + 1) + phase).astype(np.float32)
    x, y = torch.from_numpy(waves[:, :SINE_WINDOW, None]), torch.from_numpy(waves[:, SINE_WINDOW:])
    return x[: SINE_SIZES[0]], y[: SINE_SIZES[0]], x[SINE_SIZES[0]:], y[SINE_SIZES[0]:]


def _memory(rng: np.random.Generator, delay: int) -> tuple[torch.Tensor, ...]:
    """A letter, `delay` random digits, then '?': the answer is the letter."""
    total = sum(MEMORY_SIZES)
    letters = rng.integers(0, len(MEMORY_SYMBOLS), total)
    noise = rng.integers(len(MEMORY_SYMBOLS), len(MEMORY_SYMBOLS) + len(MEMORY_NOISE), (total, delay))
    question = np.full((total, 1), len(MEMORY_SYMBOLS) + len(MEMORY_NOISE))
    x = torch.from_numpy(np.concatenate([letters[:, None], noise, question], axis=1))
    y = torch.from_numpy(letters)
    return x[: MEMORY_SIZES[0]], y[: MEMORY_SIZES[0]], x[MEMORY_SIZES[0]:], y[MEMORY_SIZES[0]:]


def addition_question(a: int, b: int) -> str:
    """What the network reads for a + b: the question, padded, then '=' and a step for each further answer digit."""
    return f"{a}+{b}".ljust(ADDITION_QUESTION) + "=" + " " * (ADDITION_ANSWER - 1)


def _addition(rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    pairs = [(a, b) for a in range(10 ** ADDITION_DIGITS) for b in range(10 ** ADDITION_DIGITS)]
    order = rng.permutation(len(pairs))
    x = torch.tensor([encode(addition_question(*pairs[i]), ADDITION_ALPHABET) for i in order])
    y = torch.tensor([encode(str(sum(pairs[i])).ljust(ADDITION_ANSWER), ADDITION_ALPHABET) for i in order])
    return x[ADDITION_TEST:], y[ADDITION_TEST:], x[:ADDITION_TEST], y[:ADDITION_TEST]


def sort_question(digits: str, written: str = "") -> str:
    """What the network reads to sort a row of digits, as minGPT's lesson has it: the row, '=', then the digits in
    order so far, each step answering the next one; blank steps where none is written yet (no step sees later ones)."""
    return (digits + "=" + written)[: 2 * SORT_DIGITS].ljust(2 * SORT_DIGITS)


def _sort(rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    """Rows of SORT_DIGITS digits, each row once, read with the right digits in order so far (teacher forcing); the
    answers are the row in order, one digit a step from '='."""
    rows = rng.choice(10**SORT_DIGITS, sum(SORT_SIZES), replace=False)
    digits = np.array([list(f"{row:0{SORT_DIGITS}d}") for row in rows]).astype(np.int64)
    x = torch.tensor([encode(sort_question("".join(map(str, row)), "".join(map(str, sorted(row)))), SORT_ALPHABET)
                      for row in digits])
    y = torch.from_numpy(np.sort(digits, axis=1))
    return x[: SORT_SIZES[0]], y[: SORT_SIZES[0]], x[SORT_SIZES[0]:], y[SORT_SIZES[0]:]


def encode(text: str, alphabet: str) -> list[int]:
    return [alphabet.index(ch) for ch in text]


def clean_text(text: str) -> str:
    """Text in the 96 characters a network reads: curly quotes and dashes made plain, everything else dropped."""
    return "".join(ch for ch in str(text).translate(_TYPOGRAPHY) if ch in TEXT_ALPHABET)


def keep_text(text: str) -> str:
    """Keep a student's own text on the server (bounded, cleaned) and name its dataset: text-<16 hex digits>."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        raise DLCoreError(f"The text is longer than {MAX_TEXT_CHARS:,} characters; use a shorter piece.")
    cleaned = clean_text(text)
    if len(cleaned) < MIN_TEXT_CHARS:
        raise DLCoreError(f"The text has {len(cleaned):,} usable characters; a network needs at least "
                          f"{MIN_TEXT_CHARS:,} to learn anything from it.")
    digest = hashlib.sha256(cleaned.encode()).hexdigest()[:16]
    folder = home() / "texts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.txt"
    if not path.is_file():
        partial = path.with_suffix(".part")
        partial.write_text(cleaned)
        partial.replace(path)
    return f"text-{digest}"


def _read_text(dataset: str) -> str:
    if dataset == "text":
        from pydoc_data.topics import topics  # Python's own documentation: in every Python, nothing to download

        return clean_text("\n\n".join(topics[key] for key in sorted(topics)))
    path = home() / "texts" / f"{dataset.removeprefix('text-')}.txt"
    try:
        return path.read_text()
    except OSError:
        raise DLCoreError(f"The text of {dataset} is not on this server any more; paste it again.") from None


def _text(text: str) -> tuple[torch.Tensor, ...]:
    """Windows of TEXT_STEPS characters and the same windows one character on: train on the first nine tenths,
    every TEXT_STRIDE characters; test on the last tenth's windows, side by side."""
    codes = torch.tensor(encode(text, TEXT_ALPHABET))
    cut = int(len(codes) * (1 - TEXT_HELD_OUT))

    def windows(part: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
        chunks = part.unfold(0, TEXT_STEPS + 1, stride)
        return chunks[:, :-1].contiguous(), chunks[:, 1:].contiguous()

    return (*windows(codes[:cut], TEXT_STRIDE), *windows(codes[cut:], TEXT_STEPS))


def test_batch(dataset: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `size` test sequences of a task, or test digits, as the network reads them, and their answers."""
    if not is_task(dataset):
        return data.test_batch(dataset, size)
    loaded = load(dataset)
    return loaded.test_x[:size], loaded.test_y[:size]


# ---- the network ----------------------------------------------------------------------------------

def parameters(kind: str, features: int, state: int, layers: int) -> int:
    """What PyTorch's cell holds: per layer and gate, input and state weights and their two biases."""
    total = 0
    for _ in range(layers):
        total += GATES[kind] * (features * state + state * state + 2 * state)
        features = state
    return total


def plan(spec: ModelSpec, dataset: str) -> list[tuple]:
    """The layers that read the sequence, each (its table row, how to make it); models.py adds the dense head and
    the output layer of task.outputs."""
    from .models import LayerRow  # models builds every network, and asks this module for these layers

    task = task_of(dataset)
    steps, features = task.steps, task.features
    if task.name == "smnist":
        first = (LayerRow(f"rows: {steps} steps of {features} pixels", (steps, features), 0),
                 lambda: torch.nn.Flatten(1, 2))
    elif task.symbols:
        first = (LayerRow(f"one-hot: {steps} steps of {features} symbols", (steps, features), 0),
                 lambda: OneHot(features))
    else:
        first = (LayerRow(f"values: {steps} steps of {features}", (steps, features), 0), torch.nn.Identity)
    layers = [first, (LayerRow(f"{CELL_NAMES[spec.kind]} {spec.cell_layers}x{spec.state}", (steps, spec.state),
                               parameters(spec.kind, features, spec.state, spec.cell_layers), reuses=steps),
                      lambda: Recurrent(spec.kind, features, spec.state, spec.cell_layers))]
    if task.answered == 1:
        layers.append((LayerRow("last step", (spec.state,), 0), LastStep))
    elif not task.every_step:
        layers.append((LayerRow(f"last {task.answered} steps", (task.answered, spec.state), 0),
                       lambda: LastSteps(task.answered)))
    return layers


def answer_shape(dataset: str, width: int) -> tuple[int, ...]:
    """An answering layer's output for one sequence: (width,) at the last step, else (answered steps, width)."""
    task = task_of(dataset)
    return (width,) if task.answered == 1 else (task.answered, width)


def validate(spec: ModelSpec, dataset: str) -> None:
    """Refuse what no network can do with a task: a classifier on a sequence's task, batch norm between steps."""
    task = task_of(dataset)
    if not (spec.sequence or spec.attention) and task.name != "smnist":
        raise DLCoreError(f"The {task.name} task is read a step at a time; choose an RNN, an LSTM, a GRU or a "
                          "transformer.")
    if task.answered > 1 and any(layer.batch_norm for layer in spec.dense):
        raise DLCoreError(f"The {task.name} task answers at several steps; turn batch norm off in its dense layers.")


def recurrent_layer(model: torch.nn.Module) -> Recurrent:
    return next(module for module in model.modules() if isinstance(module, Recurrent))


def _split(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """(what turns inputs into steps, the recurrent layer, what reads the states)."""
    layers = list(model)
    at = next(i for i, layer in enumerate(layers) if isinstance(layer, Recurrent))
    return torch.nn.Sequential(*layers[:at]), layers[at], torch.nn.Sequential(*layers[at + 1:])


def _loss(outputs: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
    return LOSS_FUNCTIONS["mse" if answers.is_floating_point() else "cross-entropy"](outputs, answers)


def grad_by_step(model: torch.nn.Module, inputs: torch.Tensor, answers: torch.Tensor) -> list[float]:
    """How strongly each step's input still moves the loss of the last answer: the norm of its gradient with respect
    to each step's input, averaged over the sequences, first step to last. A plain RNN's falls away from the last
    step back; an LSTM's and a GRU's much less: what they were made for."""
    was_training = model.training
    model.eval()
    first, _, _ = _split(model)
    with torch.no_grad():
        steps = first(inputs).float()
    steps.requires_grad_(True)
    rest = torch.nn.Sequential(*list(model)[len(first):])
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):  # cuDNN's RNN backward wants train mode
        outputs = rest(steps)
        if outputs.dim() == 3 and outputs.shape[1] == steps.shape[1]:  # a text's every step: its last character's
            outputs, answers = outputs[:, -1], answers[:, -1]
        (gradient,) = torch.autograd.grad(_loss(outputs, answers), steps)  # the weights' .grad untouched:
    model.train(was_training)  # a loaded model serves every session at once
    return gradient.norm(dim=2).mean(dim=0).tolist()


@functools.lru_cache(maxsize=64)
def gradient_reach(checkpoint: str) -> tuple[float, ...]:
    """A finished run's grad_by_step on its data's first GRADIENT_DIGITS test sequences, worked out once."""
    from .predict import load as load_run  # predict builds models through models.py, which imports this module

    classifier = load_run(checkpoint)
    return tuple(grad_by_step(classifier.model, *test_batch(classifier.config.dataset, GRADIENT_DIGITS)))


# ---- reading one sequence, step by step ------------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """One sequence read step by step: the top layer's state after each step and the answer had it ended there."""

    states: np.ndarray  # (steps, state)
    answers: np.ndarray  # (steps, classes): probabilities


def reading(model: torch.nn.Module, normalized: np.ndarray) -> Reading:
    """How a recurrent network reads one normalised 28x28 digit, row by row."""
    digit = torch.from_numpy(np.ascontiguousarray(normalized, dtype=np.float32)).reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    return Reading(states(model, digit).numpy(), answers_by_row(model, digit).numpy())


def states(model: torch.nn.Module, sequence: torch.Tensor) -> torch.Tensor:
    """The top layer's state after each step of one sequence (a batch of one): (steps, state)."""
    first, recurrent, _ = _split(model)
    with torch.no_grad():
        return recurrent(first(sequence))[0]


def answers_by_row(model: torch.nn.Module, image: torch.Tensor) -> torch.Tensor:
    """The network's probabilities for each class had the digit ended after each row: (28, 10). The head reads
    each step's state as it reads the last."""
    first, recurrent, rest = _split(model)
    head = torch.nn.Sequential(*[layer for layer in rest if not isinstance(layer, (LastStep, LastSteps))])
    with torch.no_grad():
        return torch.softmax(head(recurrent(first(image))[0]), dim=1)


def gates(model: torch.nn.Module, sequence: torch.Tensor, layer: int = 0) -> dict[str, np.ndarray]:
    """How open each gate of one recurrent layer is at each step of one sequence (a batch of one): name -> (steps,
    state) in [0, 1], with the layer's state ("state", in [-1, 1]). Worked out from the layer's weights with
    PyTorch's equations (its cells keep their gates to themselves); the states agree with the cell's own."""
    first, recurrent, _ = _split(model)
    cell, kind = recurrent.cell, recurrent.kind
    with torch.no_grad():
        x = first(sequence)[0].float()
        for depth in range(layer + 1):
            w_ih, w_hh = getattr(cell, f"weight_ih_l{depth}"), getattr(cell, f"weight_hh_l{depth}")
            b_ih, b_hh = getattr(cell, f"bias_ih_l{depth}"), getattr(cell, f"bias_hh_l{depth}")
            h = torch.zeros(cell.hidden_size)
            c = torch.zeros(cell.hidden_size)
            found: dict[str, list[torch.Tensor]] = {name: [] for name in (*GATE_NAMES[kind], "state")}
            outputs = []
            for step in x:
                from_input, from_state = w_ih @ step + b_ih, w_hh @ h + b_hh
                if kind == "lstm":
                    i, f, g, o = (from_input + from_state).chunk(4)
                    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
                    c = f * c + i * torch.tanh(g)
                    h = o * torch.tanh(c)
                    opened = {"input": i, "forget": f, "output": o}
                elif kind == "gru":
                    (ri, zi, ni), (rh, zh, nh) = from_input.chunk(3), from_state.chunk(3)
                    r, z = torch.sigmoid(ri + rh), torch.sigmoid(zi + zh)
                    h = (1 - z) * torch.tanh(ni + r * nh) + z * h
                    opened = {"reset": r, "update": z}
                else:
                    h = torch.tanh(from_input + from_state)
                    opened = {}
                for name, value in (*opened.items(), ("state", h)):
                    found[name].append(value)
                outputs.append(h)
            x = torch.stack(outputs)
    return {name: torch.stack(values).numpy() for name, values in found.items()}


SHOWN_STEPS = 48  # of a text, what a page shows the gates over


def example(dataset: str, index: int = 0) -> tuple[torch.Tensor, list[str]]:
    """One test sequence of a task (a batch of one, as the network reads it) and a label for each step: its symbol
    (a space and a line break made visible), its value, or its row."""
    task = task_of(dataset)
    x, _ = test_batch(dataset, index + 1)
    sequence = x[index : index + 1]
    if task.every_step:
        sequence = sequence[:, :SHOWN_STEPS]
    if task.symbols:
        return sequence, [{" ": "␣", "\n": "⏎"}.get(task.symbols[c], task.symbols[c]) for c in sequence[0].tolist()]
    if task.name == "smnist":
        return sequence, [str(row) for row in range(1, task.steps + 1)]
    return sequence, [f"{value:.2f}" for value in sequence[0, :, 0].tolist()]


# ---- what a task's network says ----------------------------------------------------------------------

def samples(model: torch.nn.Module, temperatures: tuple[float, ...], length: int = SAMPLE_CHARS, prime: str = "The ",
            seed: int = 0, top_k: int | tuple[int, ...] = 0) -> list[str]:
    """Text a character model (in eval mode) writes after `prime`, once per temperature, side by side, a character
    at a time, each drawn from its softmax at that temperature (low: its likeliest, again and again; high: more
    surprising, fewer real words), from its top_k likeliest characters only when top_k is not 0 (one top_k, or one
    per temperature). A recurrent network carries its state from character to character; a transformer reads its last
    TEXT_STEPS characters again."""
    if not 1 <= length <= MAX_SAMPLE_CHARS:
        raise DLCoreError(f"A sample is 1 to {MAX_SAMPLE_CHARS:,} characters long.")
    if not all(0.05 <= t <= 5 for t in temperatures):
        raise DLCoreError("The temperature must be between 0.05 and 5.")
    tops = torch.tensor(top_k if isinstance(top_k, tuple) else (top_k,) * len(temperatures)).unsqueeze(1)
    if not ((0 <= tops) & (tops <= len(TEXT_ALPHABET))).all():
        raise DLCoreError(f"Top-k is 0 (every character) to {len(TEXT_ALPHABET)}.")
    recurrent = next((module for module in model.modules() if isinstance(module, Recurrent)), None)
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    codes = encode(clean_text(prime)[-TEXT_STEPS:] or "\n", TEXT_ALPHABET)
    scale = torch.tensor(temperatures).unsqueeze(1)
    written = []
    with torch.no_grad():
        state = None
        read = torch.tensor([codes] * len(temperatures), device=device)
        if recurrent is not None:
            first, _, rest = _split(model)
        for _ in range(length):
            if recurrent is not None:
                outputs, state = recurrent.cell(first(read).float(), state)
                logits = rest(outputs[:, -1:])[:, -1].float().cpu()
            else:
                logits = model(read[:, -TEXT_STEPS:])[:, -1].float().cpu()
            if tops.any():
                kth = logits.sort(dim=1, descending=True).values.gather(1, (tops - 1).clamp(min=0))
                logits = logits.masked_fill((tops > 0) & (logits < kth), float("-inf"))
            drawn = torch.multinomial(torch.softmax(logits / scale, dim=1), 1, generator=generator).to(device)
            written.append(drawn[:, 0])
            read = drawn if recurrent is not None else torch.cat([read, drawn], dim=1)[:, -TEXT_STEPS:]
    return ["".join(TEXT_ALPHABET[code] for code in row) for row in torch.stack(written, dim=1).tolist()]


@functools.lru_cache(maxsize=64)
def writing(checkpoint: str, temperature: float, length: int, prime: str, seed: int, top_k: int = 0) -> str:
    """What a finished run writes (samples), worked out once per setting: a class asks the same run again and again,
    and 2,000 letters take seconds."""
    from .predict import load as load_run

    return samples(load_run(checkpoint).model, (temperature,), length, prime, seed, top_k)[0]


@functools.lru_cache(maxsize=64)
def exact_share(checkpoint: str) -> float:
    """A finished addition or sort run's exact share, worked out once."""
    from .predict import load as load_run

    run = load_run(checkpoint)
    return exact(run.model, run.config.dataset)


def answer_sums(model: torch.nn.Module, pairs: list[tuple[int, int]]) -> list[str]:
    """What an addition network (in eval mode) writes for each a + b."""
    questions = torch.tensor([encode(addition_question(a, b), ADDITION_ALPHABET) for a, b in pairs])
    with torch.no_grad():
        written = model(questions.to(next(model.parameters()).device)).argmax(-1).cpu()
    return ["".join(ADDITION_ALPHABET[code] for code in row).strip() for row in written.tolist()]


def write_sorted(model: torch.nn.Module, questions: torch.Tensor) -> torch.Tensor:
    """What a sorting network (in eval mode) writes for sort questions (N, 12), a digit at a time, each read back as
    it goes on (no right digits given): (N, SORT_DIGITS)."""
    read = questions.clone()
    read[:, SORT_DIGITS + 1:] = SORT_ALPHABET.index(" ")
    with torch.no_grad():
        for k in range(SORT_DIGITS):
            written = model(read.to(next(model.parameters()).device)).argmax(-1).cpu()
            if k < SORT_DIGITS - 1:
                read[:, SORT_DIGITS + 1 + k] = written[:, k]  # digits 0-9 are the alphabet's first ten symbols
    return written


def answer_sorts(model: torch.nn.Module, rows: list[str]) -> list[str]:
    """What a sorting network (in eval mode) writes for each row of SORT_DIGITS digits."""
    questions = torch.tensor([encode(sort_question(row), SORT_ALPHABET) for row in rows])
    return ["".join(map(str, row)) for row in write_sorted(model, questions).tolist()]


def exact(model: torch.nn.Module, dataset: str) -> float:
    """The share of the held-out sums (or rows to sort) a network (in eval mode) writes exactly right, every digit; a
    sort written a digit at a time, as it would be without the right digits to read."""
    loaded = load(dataset)
    if dataset == "sort":
        written = write_sorted(model, loaded.test_x)
    else:
        with torch.no_grad():
            written = model(loaded.test_x.to(next(model.parameters()).device)).argmax(-1).cpu()
    return (written == loaded.test_y).all(dim=1).float().mean().item()


LIVE_SUMS = ((12, 34), (7, 8), (50, 50), (99, 99), (3, 61), (45, 9))  # what an addition run answers as it trains
LIVE_SORTS = ("316402", "999000", "123456", "750750", "808182")  # what a sort run answers as it trains
LIVE_WAVES = 3  # test windows a sine run predicts as it trains
TOP_K = 5  # a live text sample's second draw: from its five likeliest characters only
LIVE_SECONDS = 5.0  # how often a training run writes its view: five text samples cost a third of a second


def live_view(model: torch.nn.Module, dataset: str):
    """What a task's page shows while it trains (read in eval mode in the loop's thread, sent by the worker as plain
    data): text written at each of TEMPERATURES, from every character and from the TOP_K likeliest; the sums it
    writes; the rows it sorts; its next points of a few test waves."""
    task = task_of(dataset)
    if task.name == "text":  # both draws in one batch: a transformer reads its whole window again for every letter
        written = samples(model, TEMPERATURES * 2, top_k=(0,) * len(TEMPERATURES) + (TOP_K,) * len(TEMPERATURES))
        return {"samples": dict(zip(map(str, TEMPERATURES), written)),
                "top_k": dict(zip(map(str, TEMPERATURES), written[len(TEMPERATURES):]))}
    if task.name == "addition":
        return {"sums": answer_sums(model, list(LIVE_SUMS))}
    if task.name == "sort":
        return {"sorts": answer_sorts(model, list(LIVE_SORTS))}
    if task.name == "sine":
        x, y = test_batch(dataset, LIVE_WAVES)
        with torch.no_grad():
            guessed = model(x.to(next(model.parameters()).device)).float().cpu()
        return {"waves": x[:, :, 0].tolist(), "next": y[:, 0].tolist(), "guessed": guessed[:, 0].tolist()}
    return None


def metric(dataset: str, evaluation) -> dict[str, float]:
    """A task's headline number from a run's evaluation, by its name (the CLI's and the run board's)."""
    task = task_of(dataset)
    if task.metric == "test_mse":
        return {"test_mse": evaluation.loss}
    if task.metric == "val_nats_per_char":
        return {"val_nats_per_char": evaluation.loss}
    return {"test_accuracy": evaluation.accuracy}


# ---- the memory horizon -----------------------------------------------------------------------------

@dataclass(frozen=True)
class HorizonPoint:
    run_id: int
    cell: str
    delay: int
    accuracy: float


def memory_horizon(runs) -> list[HorizonPoint]:
    """Every finished memory run as a point (cell, delay, test accuracy): the class fills the chart together."""
    points = []
    for run in runs:
        if run.config.model.sequence and run.config.dataset.startswith("memory-") and run.accuracy is not None:
            points.append(HorizonPoint(run.id, run.config.model.kind, task_of(run.config.dataset).delay, run.accuracy))
    return sorted(points, key=lambda point: (point.cell, point.delay, point.run_id))
