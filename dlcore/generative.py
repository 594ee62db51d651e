"""Generative models: autoencoders, variational autoencoders and GANs that learn to draw digits, not to name them.

An autoencoder squeezes a digit through a code of a few numbers and draws it again from the code alone; a VAE's
encoder gives each digit a spread around its code as well as its place, and a KL term pulls every code towards one
bell curve, so that anywhere on its map decodes to something like a digit (an autoencoder's map has holes). All are
ModelSpecs of their own kinds, so a run of one is a run like any other: the one loop trains it with the objective
the model gives (model.objective), the job API runs it in a worker, and the runs store, export and import keep it.
A GAN's generator draws digits from noise and its discriminator learns to tell them from real ones: the loop steps
it as two lanes on every batch, the discriminator's then the generator's, each with its own optimizer (PARTS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import activations, caches, data
from .config import GENERATIVE, IMAGE_SIZE, MNIST_STATS, PIXEL_STATS, DenseLayer, DLCoreError, ModelSpec, TrainConfig
from .evaluate import Evaluation

PIXELS = IMAGE_SIZE * IMAGE_SIZE
LOG_VAR_RANGE = (-20.0, 10.0)  # a VAE's log-variance, kept where exp() neither vanishes nor overflows
SCORE_BATCH = 1000  # test digits encoded at once: an MLP's activations for 1,000 digits are a few MB
KNN_NEIGHBOURS = 5  # the latent map's k-NN accuracy: how well a digit's code alone says its class
GAN_SLOPE = 0.2  # the discriminator's LeakyReLU, the course's
PARTS = ("discriminator", "generator")  # a GAN's two lanes, stepped in this order on every batch
GAN_LR = 2e-4  # the usual Adam rate for both of a GAN's optimizers: at 1e-3 the discriminator wins too soon
SAMPLES = 40  # the samples a training GAN draws from the same noise every time it is read
PRESETS: dict[str, ModelSpec] = {
    # The course's autoencoder: 784-256-64, mirrored, sigmoid out.
    "autoencoder": ModelSpec("ae", dense=(DenseLayer(256),), latent=64),
    # Keras' VAE example's shape on a 2-D code: a map of the digits that can be drawn and read.
    "vae-2d": ModelSpec("vae", dense=(DenseLayer(256),), latent=2),
    "ae-2d": ModelSpec("ae", dense=(DenseLayer(256),), latent=2),
    # The course's GAN: generator 100-256-784 (ReLU, tanh out), discriminator 784-256-1 (LeakyReLU 0.2).
    "gan": ModelSpec("gan", dense=(DenseLayer(256),), latent=100),
}


class AutoEncoder(nn.Module):
    """encoder: standardised digit (N, 1, 28, 28) -> code (N, latent), or for a VAE its mean and log-variance
    (N, 2 * latent); decoder: code -> 784 pixel logits. forward() gives the reconstruction's logits from the code (a
    VAE's mean), as a classifier gives its logits, so every layer can be traced the same way."""

    def __init__(self, encoder: nn.Sequential, decoder: nn.Sequential, latent: int, variational: bool, beta: float):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.latent, self.variational, self.beta = latent, variational, beta
        self.pixel_stats = MNIST_STATS  # the dataset's (mean, std): what undoes the standardising for the targets

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The code's mean (an autoencoder's code) and, for a VAE, its log-variance."""
        code = self.encoder(x)
        if not self.variational:
            return code, None
        mean, log_var = code.chunk(2, dim=1)
        return mean, log_var.clamp(*LOG_VAR_RANGE)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1], (N, 28, 28), drawn from codes (N, latent)."""
        return torch.sigmoid(self.decoder(code)).view(-1, IMAGE_SIZE, IMAGE_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x)[0])

    def targets(self, x: torch.Tensor) -> torch.Tensor:
        """The pixels in [0, 1] a reconstruction is scored against: the digit before standardising."""
        mean, std = self.pixel_stats
        return (x.flatten(1) * std + mean).clamp(0.0, 1.0)

    def terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The reconstruction's binary cross-entropy and the KL term (0 for an autoencoder), each summed over a
        digit's pixels or code and averaged over the batch. Training draws a VAE's code from its spread (the
        reparameterisation trick); scoring decodes its mean, so a score is the same every time."""
        mean, log_var = self.encode(x)
        code = mean
        if log_var is not None and self.training:
            code = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
        bce = F.binary_cross_entropy_with_logits(self.decoder(code), self.targets(x), reduction="sum") / len(x)
        if log_var is None:
            return bce, torch.zeros((), device=x.device)
        kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp()) / len(x)
        return bce, kl

    def objective(self, x: torch.Tensor) -> torch.Tensor:
        """What the loop minimises: the reconstruction's cross-entropy, plus beta times the KL term for a VAE."""
        bce, kl = self.terms(x)
        return bce + self.beta * kl if self.variational else bce


class GAN(nn.Module):
    """generator: noise (N, latent) -> 784 pixels in [-1, 1] (tanh); discriminator: 784 pixels in [-1, 1] -> one
    logit, real (above 0) or drawn. forward() gives the discriminator's logit for standardised digits."""

    # Adam's first beta for both parts, DCGAN's: with PyTorch's 0.9 the course's GAN on mnist-sample drew one blur
    # (0% of its drawings read with confidence after 100 epochs); with 0.5, 46% after 70
    ADAM_BETAS = (0.5, 0.999)

    def __init__(self, generator: nn.Sequential, discriminator: nn.Sequential, latent: int):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.latent = latent
        self.pixel_stats = MNIST_STATS

    def real(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised digits as the discriminator sees them: 784 pixels in [-1, 1], as the generator draws."""
        mean, std = self.pixel_stats
        return (x.flatten(1) * std + mean).clamp(0.0, 1.0) * 2 - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(self.real(x))

    def sample(self, noise: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1], (N, 28, 28), drawn from noise (N, latent)."""
        return ((self.generator(noise) + 1) / 2).view(-1, IMAGE_SIZE, IMAGE_SIZE)

    def parameters_of(self, part: str):
        return (self.discriminator if part == "discriminator" else self.generator).parameters()

    def objective(self, x: torch.Tensor, part: str = "discriminator") -> torch.Tensor:
        """The discriminator's loss (real digits called real, drawn ones drawn) or the generator's (its drawings
        called real: the non-saturating loss), on fresh noise for every batch."""
        drawn = self.generator(torch.randn(len(x), self.latent, device=x.device))
        if part == "generator":
            called = self.discriminator(drawn)
            return F.binary_cross_entropy_with_logits(called, torch.ones_like(called))
        real, fake = self.discriminator(self.real(x)), self.discriminator(drawn.detach())
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def use_dataset(model: nn.Module, dataset: str) -> None:
    """Tell an autoencoder or a GAN which dataset's standardising to undo (a classifier needs nothing)."""
    if isinstance(model, (AutoEncoder, GAN)):
        model.pixel_stats = PIXEL_STATS.get(dataset, MNIST_STATS)


def validate(spec: ModelSpec) -> None:
    if spec.conv:
        raise DLCoreError(f"{'A GAN' if spec.kind == 'gan' else 'An autoencoder'} here is made of dense layers; "
                          "remove its conv blocks.")


def _dense_stack(layers: tuple[DenseLayer, ...], features: int, prefix: str, add, leaky: bool = False) -> int:
    """Add one hidden dense layer per entry (with its batch norm, activation and dropout); returns the width out.
    leaky: the course's LeakyReLU (slope 0.2) in place of each layer's own activation (a GAN's discriminator)."""
    for i, layer in enumerate(layers, 1):
        shape = (layer.units,)
        add(f"{prefix} dense{i} {layer.units}", shape, features * layer.units + layer.units,
            lambda f=features, u=layer.units: nn.Linear(f, u))
        if layer.batch_norm:
            add(f"{prefix} batchnorm{i}", shape, 2 * layer.units, lambda u=layer.units: nn.BatchNorm1d(u))
        if leaky:
            add(f"{prefix} leaky-relu {GAN_SLOPE:g}", shape, 0, lambda: nn.LeakyReLU(GAN_SLOPE))
        else:
            add(f"{prefix} {layer.activation}", shape, 0, activations.get(layer.activation).module)
        if layer.dropout > 0:
            add(f"{prefix} dropout {layer.dropout:g}", shape, 0, lambda p=layer.dropout: nn.Dropout(p))
        features = layer.units
    return features


def plan(spec: ModelSpec) -> tuple[list, list]:
    """The encoder's and the decoder's layers in order, each (name, output shape, parameters, make): models.py
    describes and builds a network from them, so the layer table and the network never disagree."""
    if spec.kind == "gan":
        return _gan_plan(spec)
    encoder: list = []
    decoder: list = []
    encoder.append(("flatten", (PIXELS,), 0, nn.Flatten))
    features = _dense_stack(spec.dense, PIXELS, "encoder", lambda *row: encoder.append(row))
    code = 2 * spec.latent if spec.kind == "vae" else spec.latent
    name = f"code {spec.latent}: mean and log-variance" if spec.kind == "vae" else f"code {spec.latent}"
    encoder.append((name, (code,), features * code + code, lambda f=features, c=code: nn.Linear(f, c)))
    features = _dense_stack(tuple(reversed(spec.dense)), spec.latent, "decoder", lambda *row: decoder.append(row))
    decoder.append((f"output {PIXELS} (sigmoid)", (PIXELS,), features * PIXELS + PIXELS,
                    lambda f=features: nn.Linear(f, PIXELS)))
    return encoder, decoder


def _gan_plan(spec: ModelSpec) -> tuple[list, list]:
    generator: list = []
    discriminator: list = []
    features = _dense_stack(spec.dense, spec.latent, "generator", lambda *row: generator.append(row))
    generator.append((f"generator output {PIXELS}", (PIXELS,), features * PIXELS + PIXELS,
                      lambda f=features: nn.Linear(f, PIXELS)))
    generator.append(("generator tanh", (PIXELS,), 0, nn.Tanh))
    features = _dense_stack(tuple(reversed(spec.dense)), PIXELS, "discriminator", lambda *row: discriminator.append(row),
                            leaky=True)
    discriminator.append(("discriminator output: real or drawn", (1,), features + 1, lambda f=features: nn.Linear(f, 1)))
    return generator, discriminator


def build(spec: ModelSpec) -> AutoEncoder | GAN:
    first, second = plan(spec)
    if spec.kind == "gan":
        return GAN(nn.Sequential(*(row[3]() for row in first)), nn.Sequential(*(row[3]() for row in second)),
                   spec.latent)
    encoder, decoder = first, second
    return AutoEncoder(nn.Sequential(*(row[3]() for row in encoder)), nn.Sequential(*(row[3]() for row in decoder)),
                       spec.latent, spec.kind == "vae", spec.beta)


# ---- scoring and what the page shows ------------------------------------------------------------------

def _batches(images: torch.Tensor):
    for first in range(0, len(images), SCORE_BATCH):
        yield images[first : first + SCORE_BATCH]


def fixed_noise(count: int, latent: int, seed: int = 0) -> torch.Tensor:
    """The same noise every time: a GAN's samples from it change only as the generator learns."""
    return torch.randn(count, latent, generator=torch.Generator().manual_seed(seed))


@torch.inference_mode()
def evaluate(model: AutoEncoder | GAN, images: torch.Tensor, on_batch=None, part: str | None = None) -> Evaluation:
    """A model's score on standardised test digits, as the loop keeps every model's. An autoencoder's loss is the
    objective per digit (the code's mean decoded); it has no classes to get right, so no accuracy. A GAN's lanes
    are scored on the test digits and as many drawings from fixed noise: the discriminator's loss and its accuracy
    at telling the two apart; the generator's loss and the share of its drawings the discriminator calls real."""
    if isinstance(model, GAN):
        return _evaluate_gan(model, images, part or PARTS[0], on_batch)
    model.eval()
    total, batches = 0.0, -(-len(images) // SCORE_BATCH)
    for done, batch in enumerate(_batches(images), 1):
        bce, kl = model.terms(batch)
        total += float(bce + model.beta * kl if model.variational else bce) * len(batch)
        if on_batch is not None:
            on_batch(done, batches)
    return Evaluation(accuracy=float("nan"), loss=total / max(len(images), 1), per_class=[], confusion=[],
                      misclassified=[])


def _evaluate_gan(model: GAN, images: torch.Tensor, part: str, on_batch) -> Evaluation:
    model.eval()
    noise = fixed_noise(len(images), model.latent).to(images.device)
    loss = right = 0.0
    batches = -(-len(images) // SCORE_BATCH)
    for done, first in enumerate(range(0, len(images), SCORE_BATCH), 1):
        drawn = model.discriminator(model.generator(noise[first : first + SCORE_BATCH]))
        if part == "generator":
            loss += float(F.binary_cross_entropy_with_logits(drawn, torch.ones_like(drawn), reduction="sum"))
            right += int((drawn > 0).sum())
        else:
            real = model(images[first : first + SCORE_BATCH])
            loss += float(F.binary_cross_entropy_with_logits(real, torch.ones_like(real), reduction="sum")
                          + F.binary_cross_entropy_with_logits(drawn, torch.zeros_like(drawn), reduction="sum"))
            right += (int((real > 0).sum()) + int((drawn <= 0).sum())) / 2
        if on_batch is not None:
            on_batch(done, batches)
    count = max(len(images), 1)
    return Evaluation(accuracy=right / count, loss=loss / count, per_class=[], confusion=[], misclassified=[])


@torch.inference_mode()
def reconstruction_bce(model: AutoEncoder, images: torch.Tensor) -> float:
    """The reconstruction's binary cross-entropy per digit (summed over its 784 pixels), from the code's mean."""
    model.eval()
    total = sum(float(model.terms(batch)[0]) * len(batch) for batch in _batches(images))
    return total / max(len(images), 1)


@torch.inference_mode()
def codes(model: AutoEncoder, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
    """Each digit's code (a VAE's mean), (N, latent), and a VAE's spread (standard deviations), else None."""
    model.eval()
    means, spreads = [], []
    for batch in _batches(images):
        mean, log_var = model.encode(batch)
        means.append(mean)
        if log_var is not None:
            spreads.append((0.5 * log_var).exp())
    mean = torch.cat(means).numpy() if means else np.zeros((0, model.latent), np.float32)
    return mean, (torch.cat(spreads).numpy() if spreads else None)


def knn_accuracy(train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray, test_labels: np.ndarray,
                 k: int = KNN_NEIGHBOURS) -> float:
    """The share of test digits whose k nearest training codes mostly share their class (ties to the nearest):
    how much of a digit's class its code keeps, though the model never saw a label."""
    if not len(test_codes):
        return float("nan")
    train = torch.from_numpy(np.ascontiguousarray(train_codes, dtype=np.float32))
    labels = torch.from_numpy(np.asarray(train_labels, dtype=np.int64))
    k = min(k, len(train))
    right = 0
    for first in range(0, len(test_codes), SCORE_BATCH):
        test = torch.from_numpy(np.ascontiguousarray(test_codes[first : first + SCORE_BATCH], dtype=np.float32))
        nearest = torch.cdist(test, train).topk(k, largest=False).indices  # nearest first
        votes = F.one_hot(labels[nearest], 10).float()
        votes += torch.linspace(1e-3, 0, k).view(1, k, 1)  # a tie goes to the class of the nearer neighbour
        guesses = votes.sum(1).argmax(1)
        right += int((guesses.numpy() == np.asarray(test_labels[first : first + SCORE_BATCH])).sum())
    return right / len(test_codes)


def latent_knn_accuracy(model: AutoEncoder, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                        test_y: torch.Tensor) -> float:
    """knn_accuracy of the test digits' codes among the training digits' (a VAE's means)."""
    return knn_accuracy(codes(model, train_x)[0], train_y.numpy(), codes(model, test_x)[0], test_y.numpy())


@torch.inference_mode()
def decode(model: AutoEncoder, points: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1], (N, 28, 28) float32, drawn from codes (N, latent)."""
    model.eval()
    return model.decode(torch.as_tensor(np.asarray(points, dtype=np.float32))).numpy()


def grid_codes(span: float, cells: int) -> np.ndarray:
    """cells x cells points of a 2-D code evenly over [-span, span] on each axis, rows from the top (y falls)."""
    axis = np.linspace(-span, span, cells, dtype=np.float32)
    xs, ys = np.meshgrid(axis, axis[::-1])
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def morph(model: AutoEncoder, start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """The digits drawn along the straight line between two codes, both ends included: (steps, 28, 28)."""
    share = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return decode(model, (1 - share) * np.asarray(start, np.float32) + share * np.asarray(end, np.float32))


def lesson(spec: ModelSpec) -> str:
    """One line on what the model learns, for the page and the CLI."""
    if spec.kind == "vae":
        return (f"A variational autoencoder: each digit becomes a spread around a point in {spec.latent} "
                f"dimension{'s' if spec.latent > 1 else ''}, and the decoder draws it again from a point of that spread.")
    return f"An autoencoder: each digit is squeezed into {spec.latent} number{'s' if spec.latent > 1 else ''} and drawn again from them alone."



CONFIDENT = 0.9  # a judge's probability above which a GAN's drawing counts as a clear digit
COVERED = 0.05  # the share of its drawings a class needs to count as one the generator makes
JUDGED_SAMPLES = 1000


@dataclass(frozen=True)
class ModeMeter:
    """Which classes a GAN draws, as a digit model reads its drawings from fixed noise: mode collapse shows as a
    few classes taking most of them."""

    shares: list[float]  # of the drawings, the share read as each class
    confident_share: float  # the share read with at least CONFIDENT probability
    classes_covered: int  # classes with at least COVERED of the drawings


@torch.inference_mode()
def mode_meter(model: GAN, judge: nn.Module, judge_dataset: str, count: int = JUDGED_SAMPLES) -> ModeMeter:
    """A judging classifier (trained on judge_dataset) reads `count` drawings from fixed noise."""
    model.eval()
    judge.eval()
    info = data.info(judge_dataset)
    drawn = model.sample(fixed_noise(count, model.latent, seed=1))
    probabilities = torch.softmax(judge(((drawn - info.mean) / info.std).unsqueeze(1)).float(), dim=1)
    confident, read = probabilities.max(dim=1)
    shares = torch.bincount(read, minlength=probabilities.shape[1]).double() / count
    return ModeMeter(shares.tolist(), float((confident >= CONFIDENT).double().mean()), int((shares >= COVERED).sum()))


def measures(model: AutoEncoder | GAN, dataset: str, judge: nn.Module | None = None,
             judge_dataset: str | None = None) -> dict:
    """What a finished model is judged by. An autoencoder: its reconstructions' cross-entropy per test digit, and
    how well its test digits' codes say their class among the training digits' (k-NN). A GAN: the share of its
    drawings a judging digit model reads with confidence, and how many classes it draws."""
    if isinstance(model, GAN):
        meter = mode_meter(model, judge, judge_dataset or dataset)
        return {"judge_confident_share": meter.confident_share, "classes_covered": meter.classes_covered}
    loaded = data.load(dataset)
    use_dataset(model, dataset)
    train_x, test_x = loaded.normalized(loaded.train_images), loaded.normalized(loaded.test_images)
    return {"reconstruction_bce": reconstruction_bce(model, test_x),
            "latent_knn_accuracy": latent_knn_accuracy(model, train_x, loaded.train_labels, test_x, loaded.test_labels)}


# ---- a finished run, as the page shows it ------------------------------------------------------------------

SHARED_BYTES = 256 * 2**20  # autoencoders loaded for the page, every session's together
GRID_SPAN = 3.0  # a 2-D code's decoded grid and click area: three spreads of the bell curve a VAE's codes are pulled to


@dataclass(frozen=True)
class Drawer:
    """A finished autoencoder or GAN with its config (which dataset's standardising it undoes), shared by every
    session."""

    model: AutoEncoder | GAN
    config: TrainConfig

    @property
    def mapped(self) -> bool:
        """Whether its codes can be drawn as a map: an autoencoder's of two numbers."""
        return isinstance(self.model, AutoEncoder) and self.model.latent == 2


@caches.bounded(SHARED_BYTES)
def shared(checkpoint: str) -> Drawer:
    """One loaded autoencoder or GAN per checkpoint for the whole server; callers must not change it."""
    from .runs import load_checkpoint  # runs builds networks through models, which builds autoencoders here

    model, config = load_checkpoint(checkpoint)
    if not isinstance(model, (AutoEncoder, GAN)):
        raise DLCoreError("That run is a classifier, not a generative model; pick one trained on this page.")
    use_dataset(model, config.dataset)
    return Drawer(model, config)


@torch.inference_mode()
def samples(drawer: Drawer, count: int = SAMPLES, seed: int = 0) -> np.ndarray:
    """A GAN's drawings from noise of this seed (0: the noise its training samples came from), (count, 28, 28)."""
    drawer.model.eval()
    return drawer.model.sample(fixed_noise(count, drawer.model.latent, seed)).numpy()


@caches.bounded(2**20)
def judged(checkpoint: str, judge_checkpoint: str) -> ModeMeter:
    """A finished GAN's mode meter, read by a finished classifier's run, made once for every session."""
    from .predict import shared as shared_classifier

    judge = shared_classifier(judge_checkpoint)
    return mode_meter(shared(checkpoint).model, judge.model, judge.config.dataset)


@dataclass(frozen=True)
class LatentMap:
    """Where the map's test digits (inside.map_digits) lie: codes (n, 2) and, for a VAE, their spreads."""

    codes: np.ndarray
    spreads: np.ndarray | None
    labels: np.ndarray


@caches.bounded(16 * 2**20)
def latent_map(checkpoint: str) -> LatentMap:
    """The map of a finished run with a 2-D code, made once for every session."""
    from .inside import map_digits

    drawer = shared(checkpoint)
    images, labels = map_digits(drawer.config.dataset)
    means, spreads = codes(drawer.model, data.load(drawer.config.dataset).normalized(torch.from_numpy(images)))
    return LatentMap(means, spreads, labels)


@torch.inference_mode()
def place(drawer: Drawer, normalized: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """A drawing's code (a VAE's mean), its spread (a VAE's) and the digit drawn again from the code."""
    x = torch.from_numpy(np.ascontiguousarray(normalized, dtype=np.float32)).reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    mean, spreads = codes(drawer.model, x)
    return mean[0], (spreads[0] if spreads is not None else None), decode(drawer.model, mean)[0]


def strip_drawings(drawer: Drawer) -> np.ndarray:
    """The strip's test digits (inside.strip_digits) drawn again from their codes, uint8 (n, 28, 28)."""
    from .inside import strip_digits

    images, _ = strip_digits(drawer.config.dataset)
    means, _ = codes(drawer.model, data.load(drawer.config.dataset).normalized(torch.from_numpy(images)))
    return (decode(drawer.model, means) * 255).round().astype(np.uint8)


# ---- the page's address ------------------------------------------------------------------------------------

LINK_FIELDS = ("kind", "latent", "beta", "hidden", "dataset", "epochs")  # the schema's names for what the page sets


def to_link(config: TrainConfig) -> dict[str, str]:
    """A generative setup as an address's query, in the schema's names: kind, latent, beta (a VAE's), hidden (the
    one hidden layer's width), dataset, epochs."""
    spec = config.model
    query = {"kind": spec.kind, "latent": str(spec.latent), "hidden": str(spec.dense[0].units) if spec.dense else "0",
             "dataset": config.dataset, "epochs": str(config.epochs)}
    if spec.kind == "vae":
        query["beta"] = f"{spec.beta:g}"
    return query


def from_link(query: dict[str, str]) -> TrainConfig:
    """The setup a link names, each value checked by the schema (a DLCoreError sentence names the first one that
    cannot be used); what it leaves out is the course's (a GAN's noise and rate, a 256-wide layer)."""
    from . import validation
    from .sharing import read_value

    kind = query.get("kind", "vae")
    if kind not in GENERATIVE:
        raise DLCoreError(f"kind '{kind[:20]}' is not one this page trains; choose one of: {', '.join(GENERATIVE)}.")
    course = PRESETS["gan"] if kind == "gan" else ModelSpec(kind, dense=(DenseLayer(256),))
    try:
        width = read_value(query["hidden"], int) if "hidden" in query else course.dense[0].units
        changes = {name: read_value(query[name], kind_of) for name, kind_of in (("latent", int), ("beta", float))
                   if name in query}
        epochs = read_value(query["epochs"], int) if "epochs" in query else None
    except ValueError:
        raise DLCoreError("The link's latent, beta, hidden and epochs must be numbers.") from None
    spec = ModelSpec(kind, dense=(DenseLayer(width),) if width else (), latent=changes.get("latent", course.latent),
                     beta=changes.get("beta", course.beta))
    config = TrainConfig(model=spec, lr=GAN_LR if kind == "gan" else TrainConfig().lr).with_changes(
        dataset=query.get("dataset"), epochs=epochs)
    validation.check_choice("dataset", config.dataset)
    return config
