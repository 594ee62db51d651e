"""The class's own drawings: symbols, letters or shapes drawn on the canvas, for a network that learned digits to be
fine-tuned on (transfer learning).

Each drawing is kept as the 28x28 picture preprocess makes of a drawn digit, white on black and centred the MNIST way,
so a network pretrained on MNIST reads a new symbol as it read digits. The drawings live in the runs database
(RunStore.add_drawing and its neighbours), bounded per student and per server; a run trains on a frozen copy of them
(freeze), a dataset named drawings-<16 hex digits> whose file never changes, so a run's data stay what they were
however the class draws on.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import data, disk, preprocess
from .config import IMAGE_SIZE, MAX_NAME_CHARS, MNIST_STATS, DLCoreError, home, student_name

MIN_CLASSES = 2
MAX_CLASSES = 10  # as many as the digits' head has outputs
MAX_LABEL_CHARS = 24
MAX_PER_STUDENT = 300  # a lesson's drawing and more; one student cannot fill the server's share alone
MAX_DRAWINGS = 5000  # 784 bytes each: under 4 MB of the runs database
MIN_PER_CLASS = 2  # training drawings of each class: one drawing is a picture, not yet a class
MIN_SIDE, MAX_SIDE = 8, 2000  # pixels a side of what is drawn or scanned; the canvas is 280
MIN_INK_SHARE = 0.03  # ink spanning less of the picture than this (8 of the canvas's 280 pixels) is a stray click
TEST_FROM, TEST_EVERY = 2, 5  # a class's 3rd, 8th, 13th... drawing tests: one in five, and one as soon as it has three
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
PREFIX = data.DRAWINGS_PREFIX
SPLITS = ("train", "test")
PARTS = ("images", "labels", "students")  # of each split, in a frozen file beside its classes and held_out
FILE_KEYS = {"classes", "held_out", *(f"{split}_{part}" for split in SPLITS for part in PARTS)}
# A frozen file unpacked: each drawing's pixels, label and drawer's name (4 bytes a character), and room for the rest.
MAX_FILE_BYTES = MAX_DRAWINGS * (IMAGE_SIZE * IMAGE_SIZE + 8 + 4 * MAX_NAME_CHARS) + 2**16
SAVED = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # how numpy zips a file's arrays
_NAME = re.compile(r"drawings-([0-9a-f]{16})")


@dataclass(frozen=True)
class Drawing:
    id: int
    created: float
    label: str
    student: str
    pixels: np.ndarray = field(repr=False, compare=False)  # (28, 28) uint8, a white symbol on black


def clean_label(text) -> str:
    """A class's name as the class sees it: one line of visible characters, cleaned as a student's name is (a
    zero-width or right-to-left character could make one class's name look like another's)."""
    label = student_name(text) if isinstance(text, str) else ""
    if not label:
        raise DLCoreError("Name the symbol before adding it, such as 'star' or 'A'.")
    if len(label) > MAX_LABEL_CHARS:
        raise DLCoreError(f"The label '{label[:MAX_LABEL_CHARS]}…' is longer than {MAX_LABEL_CHARS} characters; "
                          "use a shorter name.")
    return label


def picture(image, name: str = "The drawing") -> np.ndarray:
    """What the canvas gives (H, W[, 3 or 4] uint8) as a network pretrained on digits reads it: preprocess's MNIST
    recipe up to the centred 28x28 picture, kept as uint8 (standardising is the dataset's, as for digits)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = f"an array of {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise DLCoreError(f"{name} must be a picture of 8-bit pixels (uint8), not {kind}.")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise DLCoreError(f"{name} must be grayscale, RGB or RGBA; it has shape {image.shape}.")
    height, width = image.shape[:2]
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise DLCoreError(f"{name} is {width}x{height} pixels; a drawing is {MIN_SIDE} to {MAX_SIDE:,} pixels a side.")
    try:
        steps = preprocess.mnist_style(image, *MNIST_STATS)
    except preprocess.EmptyImageError:
        steps = None
    if steps is None or max(steps.cropped.shape) < MIN_INK_SHARE * max(height, width):
        raise preprocess.EmptyImageError(f"{name} is empty: draw the symbol, then add it.")
    return np.round(steps.centred).astype(np.uint8)


def check_room(label: str, classes: list[str], theirs: int | None, everyone: int) -> None:
    """Refuse, with a sentence, a drawing that would start a class past MAX_CLASSES, or take its student (who keeps
    `theirs`; None for the teacher and the command line) or the server (which keeps `everyone`) past their share."""
    if label not in classes and len(classes) >= MAX_CLASSES:
        raise DLCoreError(f"The class already draws {MAX_CLASSES} symbols, the most a drawings dataset holds; add to "
                          "one of them or ask the teacher to remove one.")
    if theirs is not None and theirs >= MAX_PER_STUDENT:
        raise DLCoreError(f"You keep {MAX_PER_STUDENT} drawings, the most one student may; remove some of yours to "
                          "add more.")
    if everyone >= MAX_DRAWINGS:
        raise DLCoreError(f"This server keeps {MAX_DRAWINGS:,} drawings, the most it holds; the teacher can remove a "
                          "class to make room.")


# ---- frozen datasets ------------------------------------------------------------------------------

def freeze(drawings: list[Drawing], hold_out: str | None = None) -> str:
    """Fix the drawings a run trains and tests on in a file that never changes, and name it as a dataset:
    drawings-<16 hex digits>, the same name for the same drawings and split. By default each class's every fifth
    drawing tests; hold_out names a student whose drawings test instead (does the network read a hand it never saw?)."""
    ordered = sorted(drawings, key=lambda drawing: drawing.id)
    classes = tuple(dict.fromkeys(drawing.label for drawing in ordered))  # in first-drawn order
    if not MIN_CLASSES <= len(classes) <= MAX_CLASSES:
        advice = "draw another symbol" if len(classes) < MIN_CLASSES else "leave some out"
        raise DLCoreError(f"A drawings dataset has {MIN_CLASSES} to {MAX_CLASSES} classes and these drawings have "
                          f"{len(classes)}; {advice}.")
    tested = _test_ids(ordered, classes, hold_out)
    train = [drawing for drawing in ordered if drawing.id not in tested]
    for label in classes:
        count = sum(drawing.label == label for drawing in train)
        if count < MIN_PER_CLASS:
            raise DLCoreError(f"'{label}' has {count} drawings to train on and each class needs at least "
                              f"{MIN_PER_CLASS}; draw more of it.")
    test = [drawing for drawing in ordered if drawing.id in tested]
    arrays = _arrays(classes, train, test, hold_out)
    digits = _digest(arrays)
    _write(_folder() / f"{digits}.npz", arrays)
    return PREFIX + digits


def _arrays(classes: tuple[str, ...], train: list[Drawing], test: list[Drawing],
            hold_out: str | None) -> dict[str, np.ndarray]:
    """What a frozen dataset's file holds, strings as numpy's own (no pickle needed to read them back)."""
    arrays = {"classes": np.array(classes, dtype=str),
              "held_out": np.array([student_name(hold_out)] if hold_out is not None else [], dtype=str)}
    for split, part in zip(SPLITS, (train, test)):
        images = np.array([drawing.pixels for drawing in part], dtype=np.uint8)
        arrays[f"{split}_images"] = images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)  # (0, 28, 28) for an empty split
        arrays[f"{split}_labels"] = np.array([classes.index(drawing.label) for drawing in part], dtype=np.int64)
        arrays[f"{split}_students"] = np.array([drawing.student for drawing in part], dtype=str)
    return arrays


def _digest(arrays: dict[str, np.ndarray]) -> str:
    """16 hex digits of what the arrays hold, not of the file's bytes (a zip's are not the same twice)."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        digest.update(f"{key} {arrays[key].dtype.str} {arrays[key].shape};".encode())
        digest.update(arrays[key].tobytes())
    return digest.hexdigest()[:16]


def _test_ids(ordered: list[Drawing], classes: tuple[str, ...], hold_out: str | None) -> set[int]:
    if hold_out is None:
        return {drawing.id for label in classes
                for drawing in [d for d in ordered if d.label == label][TEST_FROM::TEST_EVERY]}
    student = student_name(hold_out)
    tested = {drawing.id for drawing in ordered if drawing.student == student}
    if not tested:
        raise DLCoreError(f"No drawing here is by '{student}'; hold out a student who drew some.")
    return tested


def _folder() -> Path:
    return home() / "drawings"


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a dataset's file once, atomically: complete or absent, even while another process freezes the same."""
    if path.is_file():
        return
    kept = sum(file.stat().st_size for file in path.parent.glob("*.npz")) if path.parent.is_dir() else 0
    if kept > disk.megabytes("DLCORE_MAX_DRAWINGS_MB", disk.DRAWINGS_MB) * disk.MB:
        raise DLCoreError(f"The sets of drawings runs trained on take {kept / disk.MB:.1f} MB, this server's limit "
                          "(DLCORE_MAX_DRAWINGS_MB, which the teacher can raise); no new set can be trained on until then.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez_compressed(file, **arrays)
            os.replace(partial, path)
        finally:
            Path(partial).unlink(missing_ok=True)
    except OSError as exc:
        raise DLCoreError(f"Cannot keep the drawings in {path.parent} ({exc.strerror or exc}); set DLCORE_HOME to a "
                          "writable folder with room.") from None


def file_of(name: str) -> Path:
    """Where a frozen dataset's file is on this server, present or not."""
    return _folder() / f"{_digits(name)}.npz"


def keep_file(name: str, content: bytes) -> None:
    """Keep a frozen dataset's file brought from another server (in an exported run), once it holds exactly what
    freeze writes and what the name's 16 hex digits digest: a forged file cannot pass for another dataset."""
    path = file_of(name)
    damaged = f"The file of {name} is damaged or was not frozen by a playground; export the run again."
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:  # what a member declares is all it may unpack to
            members = archive.infolist()
        if (sum(member.file_size for member in members) > MAX_FILE_BYTES
                or any(member.compress_type not in SAVED or member.flag_bits & 0x1 for member in members)):
            raise DLCoreError(damaged)
        with np.load(io.BytesIO(content), allow_pickle=False) as saved:
            arrays = {key: saved[key] for key in saved.files}
    except (OSError, ValueError, KeyError, EOFError, MemoryError, zipfile.BadZipFile, zlib.error):
        raise DLCoreError(damaged) from None
    if not _as_frozen(arrays):
        raise DLCoreError(damaged)
    if _digest(arrays) != path.stem:
        raise DLCoreError(f"The drawings in this file are not those named {name}; export the run again.")
    _write(path, arrays)


def _as_frozen(arrays: dict[str, np.ndarray]) -> bool:
    """Whether arrays are a frozen file's as freeze writes them: its keys, dtypes and shapes, clean and distinct class
    names, labels among them, enough drawings of each class to train on, and drawers' names as the store keeps them."""
    if set(arrays) != FILE_KEYS or any(arrays[key].ndim != 1 for key in ("classes", "held_out", "train_students",
                                                                        "test_students")):
        return False
    classes, held_out = arrays["classes"].tolist(), arrays["held_out"].tolist()
    if not (MIN_CLASSES <= len(classes) <= MAX_CLASSES and len(set(classes)) == len(classes)
            and all(_is_label(label) for label in classes)
            and len(held_out) <= 1 and all(student_name(student) == student for student in held_out)):
        return False
    total = 0
    for split in SPLITS:
        images, labels, students = (arrays[f"{split}_{part}"] for part in PARTS)
        count = len(students)
        if not (images.dtype == np.uint8 and images.shape == (count, IMAGE_SIZE, IMAGE_SIZE)
                and labels.dtype == np.int64 and labels.shape == (count,)
                and ((0 <= labels) & (labels < len(classes))).all()):
            return False
        if any(student_name(student) != student for student in set(students.tolist())):
            return False
        total += count
    trained = np.bincount(arrays["train_labels"], minlength=len(classes))
    return total <= MAX_DRAWINGS and trained.min() >= MIN_PER_CLASS


def _is_label(text: str) -> bool:
    try:
        return clean_label(text) == text
    except DLCoreError:
        return False


def info(name: str) -> data.DatasetInfo:
    """A frozen dataset's title and class names; its pixels are standardised as MNIST's, as the pretrained network
    read them."""
    return load(name).info


def load(name: str) -> data.Dataset:
    """A frozen dataset in memory, read once per process and runs home: its file never changes."""
    return _read(_digits(name), str(_folder()))


def _digits(name: str) -> str:
    """The 16 hex digits that name a frozen dataset's file: nothing else of a name reaches the file system."""
    match = _NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise DLCoreError(f"'{str(name)[:40]}' is not a drawings dataset; such a name is drawings- and 16 hex digits.")
    return match[1]


@functools.lru_cache(maxsize=8)
def _read(digits: str, folder: str) -> data.Dataset:
    name = PREFIX + digits
    try:
        with np.load(Path(folder) / f"{digits}.npz", allow_pickle=False) as saved:
            arrays = {key: saved[key] for key in saved.files}
        classes = tuple(arrays["classes"].tolist())
        train_labels, test_labels = arrays["train_labels"], arrays["test_labels"]
        held_out, drawers = arrays["held_out"].tolist(), set(arrays["train_students"].tolist()) - {""}
    except FileNotFoundError:
        raise DLCoreError(f"The drawings of {name} are not on this server any more; freeze the class's drawings "
                          "again to train on them.") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DLCoreError(f"The file of {name} is damaged ({type(exc).__name__}); freeze the class's drawings "
                          "again.") from None
    total = len(train_labels) + len(test_labels)
    title = f"The class's drawings ({len(classes)} classes, {total:,} drawings)"
    source = (f"{len(train_labels):,} drawings by {len(drawers)} of the class" if drawers
              else f"{len(train_labels):,} drawings from the command line")
    test_source = (f"the {len(test_labels):,} drawings by {held_out[0] or 'the command line'}" if held_out
                   else f"every fifth drawing of each class ({len(test_labels):,})")
    return data.Dataset(data.DatasetInfo(name, title, classes, *MNIST_STATS),
                        torch.from_numpy(arrays["train_images"]), torch.from_numpy(train_labels),
                        torch.from_numpy(arrays["test_images"]), torch.from_numpy(test_labels), source, test_source)


# ---- a folder of pictures, for the command line ---------------------------------------------------

def read_folder(path: str | Path) -> str:
    """A folder of pictures as a frozen drawings dataset: one subfolder per class, named for it, of PNG or JPEG
    pictures, each checked as an upload is and made MNIST-style exactly as a canvas drawing is."""
    folder = Path(path)
    if not folder.is_dir():
        raise DLCoreError(f"{folder} is not a folder; give one with a subfolder of pictures for each class.")
    subfolders = _entries(folder, Path.is_dir, MAX_CLASSES)
    if subfolders is None:
        raise DLCoreError(f"{folder} has more than {MAX_CLASSES} subfolders; a drawings dataset has at most "
                          f"{MAX_CLASSES} classes.")
    found: list[tuple[str, Path]] = []  # every picture is counted before one is decoded
    for subfolder in subfolders:
        pictures = _entries(subfolder, _is_picture, MAX_DRAWINGS - len(found))
        if pictures is None:
            raise DLCoreError(f"{folder} holds more than {MAX_DRAWINGS:,} pictures, the most a drawings dataset "
                              "keeps; use fewer.")
        if not pictures:
            raise DLCoreError(f"{subfolder} has no PNG or JPEG pictures; put the class's drawings in it or remove it.")
        found += [(clean_label(subfolder.name), file) for file in pictures]
    drawings = []
    for number, (label, file) in enumerate(found, start=1):
        shown = str(file.relative_to(folder))
        drawings.append(Drawing(number, 0.0, label, "", picture(preprocess.read(str(file), shown), shown)))
    return freeze(drawings)


def _is_picture(path: Path) -> bool:
    return path.suffix.lower() in PICTURE_SUFFIXES and path.is_file()


def _entries(folder: Path, wanted, most: int) -> list[Path] | None:
    """A folder's wanted entries by name, hidden ones skipped; None when there are more than `most`, found without
    listing past them."""
    found = []
    try:
        for entry in folder.iterdir():
            if not entry.name.startswith(".") and wanted(entry):
                found.append(entry)
                if len(found) > most:
                    return None
    except OSError as exc:
        raise DLCoreError(f"Cannot read the folder {folder} ({exc.strerror or exc}); check its permissions.") from None
    return sorted(found)
