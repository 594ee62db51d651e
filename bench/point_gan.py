"""GAN lab's speed on this machine's CPU: seconds of training until a 2-D GAN's samples lie within a divergence of
0.06 bits of the real points (two halves of the ring's own points differ by about 0.025), for the page's default
(the circle's ring) and two other shapes; and how many pictures a second the page gets while it plays.

    python bench/point_gan.py [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dlcore import point_gan  # noqa: E402
from dlcore.config import PointGanConfig  # noqa: E402

GOAL = 0.06  # bits
CHECK_EPOCHS = 10  # the divergence is measured every this many epochs (its own time is not counted)
LIMIT_EPOCHS = 4000
SHAPES = {"ring (the default)": PointGanConfig(), "two gaussians": PointGanConfig(dataset="gauss", colour="both"),
          "one spiral arm (wider, slower)": PointGanConfig(dataset="spiral", colour="blue", generator=(32, 32, 32),
                                                           discriminator=(32, 32, 32), lr=0.003)}


def seconds_to_goal(config: PointGanConfig) -> dict:
    points = point_gan.real_points(config)
    real = np.concatenate([points.train_xy, points.test_xy])
    loop = point_gan.make_loop(config, LIMIT_EPOCHS, points)
    reached: dict = {}

    def check(done) -> None:
        if done.epoch % CHECK_EPOCHS == 0 and not reached:
            value = point_gan.measure(done.lanes[0].model, real)
            if value <= GOAL:
                reached.update(epochs=done.epoch, seconds=round(done.elapsed, 2), divergence=round(value, 4))
                done.stop()

    loop.run(on_epoch=check)
    return reached or {"epochs": None, "divergence": round(point_gan.measure(loop.lanes[0].model, real), 4)}


def pictures_per_second(seconds: float = 5.0) -> float:
    """While the page plays: pictures the playground's thread draws (the page shows each one it asks for)."""
    ground = point_gan.PointGanPlayground(PointGanConfig())
    seen, ends = set(), time.perf_counter() + seconds
    while time.perf_counter() < ends:
        seen.add(id(ground.play(1.0)))
        time.sleep(0.02)
    ground.close()
    ground._thread.join(10)  # its thread ends with its loop, not mid-step when Python exits
    return round(len(seen) / seconds, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a playground trains on one)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name, config in SHAPES.items():
        results[name] = seconds_to_goal(config)
        print(f"{name}: {results[name]}", flush=True)
    results["pictures_per_second"] = pictures_per_second()
    print(f"pictures a second while playing: {results['pictures_per_second']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
