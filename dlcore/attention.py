"""Transformers: tokens that attend to each other, on the sequence tasks' text and sorting, and on digits.

A transformer is a model like any other here (a ModelSpec of kind "transformer"), so the one loop, the job API, the
runs store and export take it as they take an LSTM. Which transformer it is follows from the data: on a sequence task
(sequences.task_of) a decoder, as GPT, whose every symbol attends to itself and those before it; on digits a vision
transformer, whose 16 patches of 7x7 pixels and class token attend to each other, the answer read from the class
token. What is attention's own is in the open here: every head's weights over the tokens (BertViz's head and model
views), their rollout through the blocks, the learnt positions, and the next symbol's probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import sequences
from .config import IMAGE_SIZE, MAX_HEADS, DLCoreError, ModelSpec
from .standalone import Block, FirstStep, LastStep, LastSteps, Patches, Tokens

PATCH = 7  # pixels a side: a 28x28 digit is 4x4 patches, 16 tokens of 49 pixels, as the ViT
PATCHES = (IMAGE_SIZE // PATCH) ** 2
LR = 1e-3  # Adam's, for every task: sorting, digits and text all learn in seconds to minutes at it
# Each task's first network and epochs: what reaches its goal here in seconds to minutes (bench/attention.py).
PRESETS: dict[str, tuple[ModelSpec, int]] = {
    "text": (ModelSpec("transformer", dense=(), blocks=2, heads=4, width=128, context=64), 3),
    "sort": (ModelSpec("transformer", dense=(), blocks=2, heads=4, width=64, context=64), 3),
    "digits": (ModelSpec("transformer", dense=(), blocks=2, heads=4, width=64, context=64), 10),
}
TOP = 10  # next characters a page lists


def dataset_name(task: str, digits: str = "mnist-sample", text: str | None = None) -> str:
    """The dataset a task's transformer trains on: the digits for digits; sort; text, or text-<hash> for own text."""
    if task == "digits":
        return digits
    if task == "text":
        return sequences.keep_text(text) if text is not None else "text"
    if task == "sort":
        return "sort"
    raise DLCoreError(f"Unknown task '{str(task)[:40]}'; a transformer here learns text, sort or digits.")


def task_name(dataset: str) -> str:
    """text, sort or digits (or another sequence task's name) for a transformer's dataset."""
    task = sequences.task_of(dataset)
    return "digits" if task.name == "smnist" else task.name


def reads_patches(dataset: str) -> bool:
    """Whether a transformer on this dataset is a vision transformer (digits), not a decoder (a task's symbols)."""
    return not sequences.is_task(dataset)


# ---- the network ----------------------------------------------------------------------------------

def block_parameters(width: int) -> int:
    """Two layer norms, the query-key-value and mixing layers, and the MLP four times as wide, with their biases."""
    return 12 * width * width + 13 * width


def validate(spec: ModelSpec, dataset: str) -> None:
    """Refuse what no transformer can be: heads that do not split the width, conv blocks before it."""
    if not spec.attention:
        return
    if spec.width % spec.heads:
        fits = [str(heads) for heads in range(1, MAX_HEADS + 1) if spec.width % heads == 0]
        raise DLCoreError(f"A width of {spec.width} does not split into {spec.heads} heads; choose "
                          f"{', '.join(fits[:-1])} or {fits[-1]} heads, or a width that is a multiple of {spec.heads}.")
    if spec.conv:
        raise DLCoreError("A transformer reads its tokens itself; remove its conv blocks.")


def plan(spec: ModelSpec, dataset: str) -> list[tuple]:
    """The layers up to the answer's state, each (its table row, how to make it); models.py adds the dense head and
    the output layer."""
    from .models import LayerRow  # models builds every network, and asks this module for these layers

    width, task = spec.width, sequences.task_of(dataset)
    layers = []
    if reads_patches(dataset):
        steps, causal, inputs = PATCHES + 1, False, PATCH * PATCH
        layers.append((LayerRow(f"patches: {PATCHES} of {PATCH}x{PATCH} pixels", (PATCHES, inputs), 0),
                       lambda: Patches(PATCH)))
        layers.append((LayerRow(f"tokens: a class token and {PATCHES} patches", (steps, width),
                                inputs * width + width + width + steps * width),
                       lambda: Tokens(inputs, width, steps, symbols=False, class_token=True)))
    else:
        steps, causal, inputs = task.steps, True, task.features
        embedding = inputs * width if task.symbols else inputs * width + width
        what = f"{inputs} symbols" if task.symbols else f"{inputs} value{'s' if inputs > 1 else ''}"
        layers.append((LayerRow(f"tokens: {steps} steps of {what}", (steps, width), embedding + steps * width),
                       lambda: Tokens(inputs, width, steps, symbols=bool(task.symbols), class_token=False)))
    seen = steps if not causal else min(spec.context, steps)
    for i in range(1, spec.blocks + 1):
        row = LayerRow(f"block{i}: {spec.heads} head{'s' if spec.heads > 1 else ''}"
                       + (f", {spec.context} back" if causal and spec.context < steps else ""),
                       (steps, width), block_parameters(width), reuses=steps,
                       inner=steps * 13 * width + 2 * spec.heads * steps * steps,  # norms, q k v, MLP; the maps
                       mixing=2 * steps * seen * width)  # queries times keys, weights times values
        layers.append((row, lambda: Block(width, spec.heads, causal, spec.context)))
    layers.append((LayerRow("layer norm", (steps, width), 2 * width, reuses=steps),
                   lambda: torch.nn.LayerNorm(width)))
    if reads_patches(dataset):
        layers.append((LayerRow("class token", (width,), 0), FirstStep))
    elif task.answered == 1:
        layers.append((LayerRow("last step", (width,), 0), LastStep))
    elif not task.every_step:
        layers.append((LayerRow(f"last {task.answered} steps", (task.answered, width), 0),
                       lambda: LastSteps(task.answered)))
    return layers


def blocks(model: torch.nn.Module) -> list[Block]:
    return [module for module in model.modules() if isinstance(module, Block)]


# ---- what attention does with one input -----------------------------------------------------------

def maps(model: torch.nn.Module, inputs: torch.Tensor) -> np.ndarray:
    """Every head's attention over one input (a batch of one, as the network reads it), [block][head][query][key]:
    each row a query token's weights over the keys it sees, summing to 1."""
    found, count = [], len(blocks(model))
    x = inputs
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, Block):
                found.append(layer.attention.weights(layer.norm1(x))[0])
            x = layer(x)
            if len(found) == count:
                break
    return torch.stack(found).float().cpu().numpy()


def rollout(weights: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar and Zuidema, 2020): how much each token flows into each token through every block,
    the heads averaged and the residual stream counted as half of each block's mixing; (query, key), rows summing
    to 1. A vision transformer's class-token row says which patches its answer drew on."""
    flow = np.eye(weights.shape[-1])
    for block in weights:
        mixing = 0.5 * block.mean(axis=0) + 0.5 * np.eye(block.shape[-1])
        flow = (mixing / mixing.sum(axis=-1, keepdims=True)) @ flow
    return flow


def class_attention(weights: np.ndarray) -> np.ndarray:
    """A vision transformer's class token's attention over the patches, per block and head, as 4x4 pictures
    (block, head, 4, 4)."""
    side = IMAGE_SIZE // PATCH
    return weights[:, :, 0, 1:].reshape(*weights.shape[:2], side, side)


def patch_picture(row: np.ndarray) -> np.ndarray:
    """A row of weights over the 16 patches as a 4x4 picture."""
    side = IMAGE_SIZE // PATCH
    return np.asarray(row).reshape(side, side)


def position_similarity(model: torch.nn.Module) -> np.ndarray:
    """The cosine similarity of every learnt position embedding with every other, (positions, positions): near
    positions come to look alike, and a vision transformer's learns the patches' rows and columns."""
    tokens = next(module for module in model.modules() if isinstance(module, Tokens))
    with torch.no_grad():
        positions = torch.nn.functional.normalize(tokens.position[0].float(), dim=1)
        return (positions @ positions.T).cpu().numpy()


# ---- text, sorting and digits, as a page reads them ------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """One input as the transformer read it: its tokens' labels, every head's attention, and its answer."""

    labels: list[str]  # one per token: a character (space and line break made visible), a patch, CLS
    weights: np.ndarray  # [block][head][query][key]
    answer: str  # what it writes: the next character, the sorted row, the digit's class


def visible(symbol: str) -> str:
    return {" ": "·", "\n": "↵"}.get(symbol, symbol)  # fonts without ␣ and ⏎ draw them as boxes


def read_text(model: torch.nn.Module, prompt: str) -> tuple[Reading, list[tuple[str, float]]]:
    """A prompt (its last TEXT_STEPS usable characters) read by a text transformer: its attention, and the TOP
    likeliest next characters with their probabilities."""
    text = sequences.clean_text(prompt)[-sequences.TEXT_STEPS:]
    if not text:
        raise DLCoreError("Type a prompt in letters, digits or punctuation for it to read.")
    codes = torch.tensor([sequences.encode(text, sequences.TEXT_ALPHABET)])
    with torch.no_grad():
        probabilities = torch.softmax(model(codes)[0, -1].float(), dim=0)
    top = probabilities.topk(TOP)
    nexts = [(sequences.TEXT_ALPHABET[i], p) for p, i in zip(top.values.tolist(), top.indices.tolist())]
    return Reading([visible(ch) for ch in text], maps(model, codes), nexts[0][0]), nexts


def check_row(row: str) -> None:
    if not isinstance(row, str) or len(row) != sequences.SORT_DIGITS or not row.isascii() or not row.isdigit():
        raise DLCoreError(f"Type exactly {sequences.SORT_DIGITS} digits, such as 316402.")


def read_sort(model: torch.nn.Module, row: str) -> Reading:
    """A row of SORT_DIGITS digits sorted by the transformer, a digit at a time, and its attention over the row and
    what it wrote: each answer step looks back at the digit it copies, a permutation one can see."""
    check_row(row)
    codes = torch.tensor([sequences.encode(sequences.sort_question(row), sequences.SORT_ALPHABET)])
    written = "".join(map(str, sequences.write_sorted(model, codes)[0].tolist()))
    question = sequences.sort_question(row, written)
    codes = torch.tensor([sequences.encode(question, sequences.SORT_ALPHABET)])
    return Reading([visible(ch) for ch in question], maps(model, codes), written)


def read_digit(model: torch.nn.Module, normalized: np.ndarray, classes: tuple[str, ...]) -> tuple[Reading, np.ndarray]:
    """A normalised 28x28 digit read by a vision transformer: its attention, its class, and its probabilities."""
    digit = torch.from_numpy(np.ascontiguousarray(normalized, dtype=np.float32)).reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        probabilities = torch.softmax(model(digit)[0].float(), dim=0).numpy()
    side = IMAGE_SIZE // PATCH
    labels = ["CLS"] + [f"{r + 1},{c + 1}" for r in range(side) for c in range(side)]  # patches by row, column
    return Reading(labels, maps(model, digit), classes[int(probabilities.argmax())]), probabilities
