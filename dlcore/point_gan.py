"""GAN Lab's lesson on real PyTorch: a GAN whose real data are a 2-D playground dataset's points.

In two dimensions everything a GAN does can be seen at once: the discriminator's verdict over the whole square (a
heatmap, green where it says real), the generator's samples from fixed noise, the way the generator's loss pulls
each sample (arrows: the gradient it follows), and where it sends a grid of noise (its manifold, a warped mesh).
The model is generative.GAN with 2-D noise and 2-D output, so the one loop trains it as two lanes exactly as it
trains the digit GAN, and toy.Playground's thread runs it live, a few epochs per request.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage
from torch import nn
from torch.nn import functional as F

from . import activations, generative, sharing, toy
from .config import MAX_TOY_EPOCHS, DenseLayer, DLCoreError, ModelSpec, PointGanConfig, ToyConfig, TrainConfig
from .loop import INIT_LOCK, Loop, diverged_message

EXTENT = toy.EXTENT  # the square the points lie in, [-6, 6]²; both networks see it scaled to [-1, 1]²
NOISE = 2  # the generator's noise: two numbers, so its mesh can be drawn
HEAT_GRID = 48  # cells per side of the discriminator's heatmap
SHOWN = 150  # samples drawn from the same noise every picture, each with its arrow
MESH_LINES, MESH_POINTS, MESH_SPAN = 9, 25, 2.0  # the manifold: a grid of noise in ±2 standard deviations
DIVERGENCE_GRID, DIVERGENCE_BLUR = 16, 1.0  # the square's cells the two distributions are compared on
DIVERGENCE_SAMPLES = 2000  # generator samples the divergence is measured with
MAX_CURVE = 400  # points kept on the divergence curve
COLOURS = {"both": "both colours", "blue": "the blue points", "orange": "the orange points"}


class PointGAN(generative.GAN):
    """generative.GAN on points: the generator draws (x1, x2) in the scaled square from 2-D noise, with no tanh (a
    point may go past the edge and be pulled back), and the discriminator reads a point."""

    def real(self, x: torch.Tensor) -> torch.Tensor:
        return x / EXTENT

    def points(self, noise: torch.Tensor) -> torch.Tensor:
        """Samples as points in the square's own units."""
        return self.generator(noise) * EXTENT


def _stack(widths: tuple[int, ...], first: int, last: int, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(first, width), activations.get(activation).module()]
        first = width
    return nn.Sequential(*layers, nn.Linear(first, last))


def build(config: PointGanConfig) -> PointGAN:
    return PointGAN(_stack(config.generator, NOISE, 2, config.activation),
                    _stack(config.discriminator, 2, 1, config.activation), NOISE)


def real_points(config: PointGanConfig) -> toy.Points:
    """The dataset's points as the 2-D playground draws them, keeping the chosen colour's (their labels all 1)."""
    points = toy.make_points(ToyConfig(dataset=config.dataset, noise=config.noise, points=config.points,
                                       seed=config.seed))

    def kept(xy: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        chosen = xy if config.colour == "both" else xy[y == (1 if config.colour == "blue" else 0)]
        return chosen, np.ones(len(chosen), dtype=np.int64)

    return toy.Points(*kept(points.train_xy, points.train_y), *kept(points.test_xy, points.test_y))


def lane_config(config: PointGanConfig, train_points: int) -> TrainConfig:
    """What the loop reads: a GAN (so two lanes) with the optimizer's settings; the data and networks come from here."""
    return TrainConfig(dataset=f"toy-{config.dataset}", model=ModelSpec("gan", dense=tuple(map(DenseLayer, config.generator)),
                                                                          latent=NOISE),
                       optimizer=config.optimizer, lr=config.lr, batch_size=min(config.batch_size, train_points),
                       epochs=1, seed=config.seed, device="cpu")


def make_loop(config: PointGanConfig, epochs: int, points: toy.Points | None = None, resume: bytes | None = None) -> Loop:
    points = points or real_points(config)
    tensors = tuple(torch.from_numpy(array) for array in (points.train_xy, points.train_y, points.test_xy, points.test_y))
    return Loop([lane_config(config, len(points.train_y))], tensors=tensors, build=lambda: build(config), epochs=epochs,
                resume=resume)


# what a picture shows

def _square(cells: int) -> np.ndarray:
    axis = np.linspace(-EXTENT, EXTENT, cells, dtype=np.float32)
    x1, x2 = np.meshgrid(axis, axis)
    return np.stack([x1.ravel(), x2.ravel()], axis=1)


def mesh_noise() -> torch.Tensor:
    """(2 * MESH_LINES, MESH_POINTS, 2): lines of constant first, then second, noise value."""
    ticks, along = torch.linspace(-MESH_SPAN, MESH_SPAN, MESH_LINES), torch.linspace(-MESH_SPAN, MESH_SPAN, MESH_POINTS)
    across = torch.stack([ticks[:, None].expand(-1, MESH_POINTS), along[None, :].expand(MESH_LINES, -1)], dim=2)
    return torch.cat([across, across.flip(2)])


def pull(model: PointGAN, samples: torch.Tensor) -> np.ndarray:
    """The way the generator's loss moves each sample (its negative gradient with respect to the point, in the
    square's units): towards where the discriminator says real. What the generator's weights are trained to follow."""
    scaled = (samples / EXTENT).detach().requires_grad_(True)
    with torch.enable_grad():
        called = model.discriminator(scaled)
        F.binary_cross_entropy_with_logits(called, torch.ones_like(called), reduction="sum").backward()
    return (-scaled.grad * EXTENT).numpy()


def _density(xy: np.ndarray) -> np.ndarray:
    counts, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=DIVERGENCE_GRID, range=[[-EXTENT, EXTENT]] * 2)
    smooth = ndimage.gaussian_filter(counts, DIVERGENCE_BLUR, mode="constant") + 1e-9
    return smooth / smooth.sum()


def divergence(real: np.ndarray, drawn: np.ndarray) -> float:
    """Jensen-Shannon divergence between the real points and the samples, in bits (0: the same, 1: apart), each
    counted on a grid over the square and blurred a little (GAN Lab measures it on a grid too); a sample past the
    edge counts at the edge."""
    p, q = _density(real), _density(np.clip(drawn, -EXTENT, EXTENT))
    m = (p + q) / 2
    return float(np.clip((np.sum(p * np.log2(p / m)) + np.sum(q * np.log2(q / m))) / 2, 0.0, 1.0))


@torch.no_grad()
def measure(model: PointGAN, real: np.ndarray) -> float:
    """How far the generator's samples (DIVERGENCE_SAMPLES of them, from fixed noise) are from the real points."""
    return divergence(real, model.points(generative.fixed_noise(DIVERGENCE_SAMPLES, NOISE, seed=1)).numpy())


def _curve(so_far: list[tuple[int, float]], epoch: int, value: float) -> list[tuple[int, float]]:
    """The divergence curve with this epoch's value; past MAX_CURVE points every other old one goes, so a network
    that plays for an hour keeps a curve of the same shape and size."""
    curve = [*(point for point in so_far if point[0] < epoch), (epoch, value)]
    return curve if len(curve) <= MAX_CURVE else [*curve[:-1:2], curve[-1]]


@dataclass(frozen=True)
class GanPicture:
    """What the page draws after a request, as plain NumPy and lists."""

    epoch: int
    heat: np.ndarray  # (HEAT_GRID, HEAT_GRID) the discriminator's p(real), rows from y = -6 up, columns from x = -6
    samples: np.ndarray  # (SHOWN, 2) the generator's points from fixed noise
    pulls: np.ndarray  # (SHOWN, 2) each one's pull (see pull)
    mesh: np.ndarray  # (2 * MESH_LINES, MESH_POINTS, 2) where the generator sends a grid of noise
    d_loss: list[float] = field(default_factory=list)  # per epoch, from epoch 1: the discriminator's training loss
    g_loss: list[float] = field(default_factory=list)
    divergence: list[tuple[int, float]] = field(default_factory=list)  # (epoch, bits) at each picture
    d_accuracy: float | None = None  # on the test points and as many samples, at the last epoch
    status: str = "ready"
    message: str = ""


@torch.no_grad()
def picture(model: PointGAN, real: np.ndarray, epoch: int, lanes=(), divergence_so_far=(), **state) -> GanPicture:
    model.eval()
    heat = torch.sigmoid(model.discriminator(torch.from_numpy(_square(HEAT_GRID)) / EXTENT)).view(HEAT_GRID, HEAT_GRID)
    samples = model.points(generative.fixed_noise(SHOWN, NOISE))
    measured = measure(model, real)
    histories = [lane.history for lane in lanes] or [[], []]
    return GanPicture(
        epoch=epoch, heat=heat.numpy(), samples=samples.numpy(), pulls=pull(model, samples),
        mesh=model.points(mesh_noise()).numpy(),
        d_loss=[row.train_loss for row in histories[0]], g_loss=[row.train_loss for row in histories[1]],
        divergence=_curve(list(divergence_so_far), epoch, measured),
        d_accuracy=histories[0][-1].test_accuracy if histories[0] else None, **state)


class PointGanPlayground(toy.Playground):
    """One student's 2-D GAN, trained live as the 2-D playground's network is (toy.Playground's requests, leases and
    suspension), drawn as a GanPicture; step_only trains the discriminator, the generator, or both, from the next
    batch on."""

    def __init__(self, config: PointGanConfig, present=lambda: True):
        self._stepping = generative.PARTS  # before the first loop is made
        super().__init__(config, present)

    @property
    def stepping(self) -> tuple[str, ...]:
        return self._stepping

    def step_only(self, parts: tuple[str, ...]) -> None:
        self._loop.step_only(parts)  # refuses an empty choice with a sentence
        self._stepping = tuple(part for part in generative.PARTS if part in parts)

    def _make_points(self) -> toy.Points:
        return real_points(self.config)

    def _new_loop(self, resume: bytes | None = None) -> Loop:
        loop = make_loop(self.config, MAX_TOY_EPOCHS, self.points, resume=resume)
        loop.step_only(self._stepping)
        return loop

    @functools.cached_property
    def real(self) -> np.ndarray:
        """Every real point, training and test: what the samples are compared with and drawn among."""
        return np.concatenate([self.points.train_xy, self.points.test_xy])

    @functools.cached_property
    def baseline(self) -> float:
        """The divergence between the two halves of the real points: about as low as a perfect generator gets."""
        return divergence(self.points.train_xy, self.points.test_xy)

    def _first_picture(self) -> GanPicture:
        with INIT_LOCK:  # the first weights the loop's lanes draw from the same seed
            torch.manual_seed(self.config.seed)
            model = build(self.config)
        return picture(model, self.real, 0)

    def _draw(self, lanes: list, epoch: int, **state) -> GanPicture:
        return picture(lanes[0].model, self.real, epoch, lanes, self._picture.divergence, **state)


def train(config: PointGanConfig) -> dict:
    """Train for config.epochs in this thread, as the command line does; the figures it prints."""
    started = time.perf_counter()
    points = real_points(config)
    loop = make_loop(config, config.epochs, points)
    status = loop.run()
    if status == "diverged":
        raise DLCoreError(diverged_message(loop.configs[0]))
    seconds = time.perf_counter() - started
    discriminator, generator = loop.lanes
    return {"divergence": round(measure(discriminator.model, np.concatenate([points.train_xy, points.test_xy])), 4),
            "d_accuracy": discriminator.evaluation.accuracy, "d_loss": discriminator.history[-1].train_loss,
            "g_loss": generator.history[-1].train_loss, "epochs": loop.epoch, "seconds": round(seconds, 3),
            "status": status}


LINK_FIELDS = [f.name for f in dataclasses.fields(PointGanConfig) if f.name != "epochs"]


def to_link(config: PointGanConfig) -> dict[str, str]:
    """The settings that differ from the defaults, as an address's query (lists with commas)."""
    return sharing.fields_link(config, LINK_FIELDS)


def from_link(query: dict[str, str]) -> PointGanConfig:
    """A link's settings, each read as its field's type and checked by the schema."""
    return sharing.fields_from_link(PointGanConfig, query, LINK_FIELDS)
