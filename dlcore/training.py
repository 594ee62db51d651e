"""A run: the training loop with one lane, in a background thread, with live progress any thread can read."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from . import generative, inside
from .config import TrainConfig
from .evaluate import Evaluation
from .loop import Engine, Fraction, LoopJob
from .validation import validate


@dataclass(frozen=True)
class Progress(Fraction):
    """A consistent copy of a run's live state, cheap to take from any thread."""

    status: str  # queued, running, paused, done, stopped, diverged, failed
    message: str = ""
    device: str = ""
    epoch: int = 0  # epochs completed
    epochs: int = 0
    step: int = 0  # optimizer steps taken, over all epochs
    steps_per_epoch: int = 0
    step_losses: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)  # one loop.EpochRow (as a dict) per finished epoch
    parts: tuple[tuple[str, list[dict]], ...] = ()  # a GAN's: (part, its EpochRows) for its discriminator, generator
    stepping: tuple[str, ...] = ()  # a GAN's parts taking their steps now (loop.Loop.step_only)
    samples_per_sec: float = 0.0
    elapsed: float = 0.0  # training time, pauses and evaluation excluded
    evaluating: float = 0.0  # time spent scoring the test split
    wall: float = 0.0  # the whole run's time, pauses excluded
    phase: str = "training"  # or "evaluating": scoring the test split, after each epoch and at the end
    scored: tuple[int, int] = (0, 0)  # the evaluation's test batches scored, and in all
    scoring: int = 0  # the test images that evaluation scores: an epoch's share of the split, or all of it at the end
    eta: float | None = None
    queue_position: int | None = None  # 1 = next to start
    starts_in: float | None = None  # seconds until it should start (or go on), while it waits
    ahead: tuple[tuple[str, float], ...] = ()  # ("run" or "race", seconds of work left) of each job ahead in line

    @property
    def finished(self) -> bool:
        return self.status not in ("queued", "running", "paused")


class Trainer(LoopJob):
    """Trains one config; the job manager records it through on_epoch(trainer) and on_finish(trainer, status,
    message), both called in the trainer's thread, the latter before the final status is published; resume is a
    suspended loop's state (loop.Loop)."""

    def __init__(self, config: TrainConfig, on_epoch=None, on_finish=None, engine: Engine = Engine(),
                 resume: bytes | None = None, pace: float = 0.0):
        validate(config)
        super().__init__([config], engine, pace=pace, resume=resume)
        self.config = config
        self._on_epoch = on_epoch
        self._on_finish = on_finish
        self.model: nn.Module | None = None  # the trained model, on the CPU, once the run has ended with one
        self.evaluation: Evaluation | None = None
        self._strip = inside.StripReader(config)

    def progress(self) -> Progress:
        loop = self.loop
        with self._lock, loop.lock:
            status, lane = self._status, (loop.lanes[0] if loop.lanes else None)
            live = status in ("running", "paused")
            return Progress(
                status=status, message=self._message, device=loop.device, epoch=loop.epoch, epochs=self.config.epochs,
                step=loop.step, steps_per_epoch=loop.steps_per_epoch,
                step_losses=list(lane.losses) if lane else [],
                history=[row.to_dict() for row in lane.history] if lane else [],
                parts=tuple((each.part, [row.to_dict() for row in each.history]) for each in loop.lanes if each.part),
                stepping=tuple(part for part in generative.PARTS if part in loop.stepping)
                if self.config.model.kind == "gan" else (),
                samples_per_sec=loop.samples_per_sec, elapsed=loop.elapsed, evaluating=loop.evaluating, wall=loop.wall,
                phase=loop.phase if live else "training", scored=loop.scored, scoring=loop.scoring,
                eta=0.0 if status == "done" else loop.eta() if live else None,
            )

    def step_only(self, parts: tuple[str, ...]) -> None:
        """Train only these parts of a GAN from the next batch on (generative.PARTS)."""
        self.loop.step_only(parts)

    def strip(self) -> inside.Strip:
        """The fixed test digits and the training model's latest guesses, refreshed every few seconds."""
        return self._strip.strip()

    def strip_guesses(self) -> tuple[int, list[int]] | None:
        return self._strip.guesses()

    def _published(self, loop) -> None:
        lane = loop.lanes[0]
        if lane.training:
            self._strip.read(lane.model, loop.step, agent=lane.agent)

    def _epoch_done(self, loop) -> None:
        self._strip.read(loop.lanes[0].model, loop.step, now=True, agent=loop.lanes[0].agent)  # short epochs may publish nothing between them
        if self._on_epoch is not None:
            self._on_epoch(self)

    def _record(self, status: str, message: str) -> None:
        lane = self.loop.lanes[0]
        if lane.evaluation is not None:
            self.model, self.evaluation = lane.model, lane.evaluation

    def _finished(self, status: str, message: str) -> None:
        if self._on_finish is not None:
            self._on_finish(self, status, message)
