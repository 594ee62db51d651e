"""How much of a CNN run goes to scoring each epoch: the whole test split (10,000 images, as every epoch was
scored before) against the fixed 1,000 of each epoch now (loop.EPOCH_TEST_IMAGES), with the final whole-split scoring.

One run of the `cnn` preset on Fashion-MNIST (TrainConfig's defaults otherwise) in one torch thread, as a classroom
server's job has on 2 cores, times all three: an epoch's training, its scoring on the subset, and the final scoring
of the whole split, which is what each epoch's scoring cost before. Shares are of training plus scoring (loading the
data aside). An epoch is the first 5,000 training images by default: the offline default's epoch (mnist-sample's
5,000 digits), where scoring was measured at 40% of a run, and a quick one (a full Fashion-MNIST epoch takes about two
minutes in one thread here, and weighs the same scoring against 12 times the training: --train-images 60000).

Usage: DLCORE_DATA_DIR=../shared/data python bench/scoring_share.py [--train-images 60000]
Last stdout line: {"share_before": ..., "share_after": ..., ...}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from dlcore import TrainConfig, data, loop, models  # noqa: E402
from dlcore.devices import tensors_on  # noqa: E402

TRAIN_IMAGES = 5000  # mnist-sample's epoch; see above
RUN_EPOCHS = 5  # a whole run's share is also shown for this many epochs, the README's accuracy runs' length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=TRAIN_IMAGES)
    args = parser.parse_args()
    if not os.environ.get("DLCORE_DATA_DIR"):
        sys.exit("Set DLCORE_DATA_DIR to the folder holding fashion-mnist/ (e.g. ../shared/data).")
    torch.set_num_threads(1)
    config = TrainConfig(dataset="fashion-mnist", model=models.preset("cnn"), epochs=1, device="cpu")
    train_x, train_y, test_x, test_y = tensors_on(data.load(config.dataset), torch.device("cpu"))
    run = loop.Loop([config], tensors=(train_x[: args.train_images], train_y[: args.train_images], test_x, test_y))
    at_epoch = {}
    status = run.run(on_epoch=lambda it: at_epoch.update(scoring=it.evaluating))
    if status != "done":
        sys.exit(f"The run ended {status}: nothing to measure.")
    training, subset = run.elapsed, at_epoch["scoring"]
    whole = run.evaluating - subset
    lane = run.lanes[0]
    before = whole / (training + whole)  # every epoch scored whole, the last epoch's score being the final one
    after = subset / (training + subset)
    run_after = (RUN_EPOCHS * subset + whole) / (RUN_EPOCHS * (training + subset) + whole)
    result = {
        "train_images": len(train_y[: args.train_images]), "test_images": run.test_images,
        "epoch_test_images": run.epoch_test_images, "threads": torch.get_num_threads(),
        "train_s": round(training, 2), "subset_scoring_s": round(subset, 2), "whole_scoring_s": round(whole, 2),
        "share_before": round(before, 3), "share_after": round(after, 3),
        f"run_{RUN_EPOCHS}_epochs_share_after": round(run_after, 3),
        "subset_accuracy": round(lane.history[-1].test_accuracy, 4), "whole_accuracy": round(lane.evaluation.accuracy, 4),
    }
    print(f"cnn, one epoch of {result['train_images']:,} Fashion-MNIST images in {training:.1f} s, one thread; "
          f"scoring {run.test_images:,} test images took {whole:.2f} s, the epoch's {run.epoch_test_images:,} "
          f"{subset:.2f} s", file=sys.stderr)
    print(f"scoring's share of an epoch: {before:.1%} before (whole split), {after:.1%} now (subset); of a "
          f"{RUN_EPOCHS}-epoch run with its final whole-split scoring: {run_after:.1%}", file=sys.stderr)
    print(f"test accuracy after the epoch: {result['subset_accuracy']:.2%} on the subset, "
          f"{result['whole_accuracy']:.2%} on the whole split", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
