"""The 2-D playground against TF Playground's own engine, and against a plain PyTorch loop, on one core.

TF Playground (given the path of a tensorflow/playground checkout): its src/nn.ts compiled with TypeScript from npm
in a temp folder and run by node, driven the way its oneStep() trains (each point forward and backward, an update
every batch-size points, squared error on a tanh output, both splits' losses after each epoch) on our points, against
`dlcore.toy.train` with the same settings: the spiral with all 7 features and 6 layers of 8 tanh, and TF
Playground's defaults (circle, x1 x2, 4-2 tanh); SGD lr 0.03, batch 10. Without the path that part is skipped.

The issue's targets (TF Playground's settings: x1, x2 alone, noise 0, half the points for training, batch 10):
circle, XOR and gauss with two layers of 4 tanh neurons, Adam 0.01, 200 epochs; spiral with six layers of 8,
Adam 0.003, 1,000 epochs. The plain loop is what a tutorial writes: nn.Sequential of nn.Linear and nn.Tanh, a
shuffling DataLoader of 10, cross-entropy, torch.optim.Adam, on the same points. Both score the same test half.

With --parity SEEDS (and --playground), instead: TF Playground's lessons with its settings, on the points of seeds
0..SEEDS-1, the test accuracy its engine reaches (its own random first weights) and dlcore.toy's (PARITY).

Usage: python bench/toy_speed.py [--quick] [--playground PATH] [--only-playground]   (--quick: a tenth of the epochs)
       python bench/toy_speed.py --playground PATH --parity 10
Last stdout line: {"plain_seconds": ..., "toy_seconds": ..., "ratio": ..., "accuracies": {...}, "playground": {...}}
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dlcore import toy
from dlcore.config import ToyConfig

RUNS = [ToyConfig(dataset=name, hidden=(4, 4), lr=0.01, epochs=200, loss="cross-entropy")  # the plain loop's loss
        for name in ("circle", "xor", "gauss")] + [
    ToyConfig(dataset="spiral", hidden=(8,) * 6, lr=0.003, epochs=1000, loss="cross-entropy")]


def plain(config: ToyConfig) -> float:
    """The tutorial loop; returns the test accuracy."""
    train_x, train_y, test_x, test_y = toy._tensors(config, toy.make_points(config))
    torch.manual_seed(config.seed)
    layers, width = [], train_x.shape[1]
    for units in config.hidden:
        layers += [nn.Linear(width, units), nn.Tanh()]
        width = units
    model = nn.Sequential(*layers, nn.Linear(width, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batches = DataLoader(TensorDataset(train_x, train_y), batch_size=config.batch_size, shuffle=True)
    for _ in range(config.epochs):
        for x, y in batches:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    with torch.no_grad():
        return (model(test_x).argmax(1) == test_y).float().mean().item()


ALL_FEATURES = ("x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2")
TF_RUNS = {  # TF Playground's settings: SGD without momentum, lr 0.03, batch 10, tanh
    "spiral, 7 features, 6x8": ToyConfig(dataset="spiral", features=ALL_FEATURES, hidden=(8,) * 6, optimizer="sgd",
                                         lr=0.03, momentum=0.0, batch_size=10, epochs=1000),
    "TF's defaults (circle, 4-2)": ToyConfig(dataset="circle", hidden=(4, 2), optimizer="sgd", lr=0.03, momentum=0.0,
                                             batch_size=10, epochs=1000),
}
DRIVER = """
const nn = require("./out/nn.js");
const run = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const ids = run.train_x[0].map((_, i) => String(i));
const output = run.regression ? nn.Activations.LINEAR : nn.Activations.TANH;  // playground.ts reset()
const network = nn.buildNetwork([ids.length, ...run.hidden, 1], nn.Activations.TANH, output, null, ids);
const loss = (xs, ys) => xs.reduce((sum, x, i) => sum + nn.Errors.SQUARE.error(nn.forwardProp(network, x), ys[i]), 0)
  / xs.length;
const started = process.hrtime.bigint();
for (let epoch = 0; epoch < run.epochs; epoch++) {  // playground.ts oneStep()
  run.train_x.forEach((x, i) => {
    nn.forwardProp(network, x);
    nn.backProp(network, run.train_y[i], nn.Errors.SQUARE);
    if ((i + 1) % run.batch_size === 0) nn.updateWeights(network, run.lr, 0);
  });
  loss(run.train_x, run.train_y);
  loss(run.test_x, run.test_y);
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const right = run.test_x.filter((x, i) => (nn.forwardProp(network, x) >= 0 ? 1 : -1) === run.test_y[i]).length;
console.log(JSON.stringify({seconds, test_accuracy: right / run.test_x.length, test_loss: loss(run.test_x, run.test_y)}));
"""


def compile_playground(checkout: Path, folder: Path) -> None:
    """TF Playground's nn.ts as CommonJS in folder/out, with TypeScript from npm; the driver beside it."""
    shutil.copy(checkout / "src" / "nn.ts", folder / "nn.ts")
    npm = dict(cwd=folder, check=True, capture_output=True)
    subprocess.run(["npm", "install", "--silent", "--no-save", "typescript"], **npm)
    subprocess.run(["npx", "tsc", "--target", "es2017", "--module", "commonjs", "--strict", "false",
                    "--noImplicitAny", "false", "--outDir", "out", "nn.ts"], **npm)
    (folder / "driver.js").write_text(DRIVER)


def playground(config: ToyConfig, folder: Path) -> dict:
    """TF Playground's engine on our points; its own clock, so node's start-up is not counted."""
    points = toy.make_points(config)
    names = toy.used_features(config)
    regression = config.dataset in toy.REGRESSION
    targets = (lambda y: y) if regression else (lambda y: 2 * y - 1)  # a value, or a class as +1 / -1
    run = {"train_x": toy.features(points.train_xy, names).tolist(), "train_y": targets(points.train_y).tolist(),
           "test_x": toy.features(points.test_xy, names).tolist(), "test_y": targets(points.test_y).tolist(),
           "hidden": list(config.hidden), "lr": config.lr, "batch_size": config.batch_size, "epochs": config.epochs,
           "regression": regression}
    (folder / "run.json").write_text(json.dumps(run))
    done = subprocess.run(["node", "driver.js", "run.json"], cwd=folder, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


PARITY = {  # TF Playground's lessons with its settings (SGD 0.03, batch 10, tanh): its 4-2 network on x1, x2 for
    # 300 epochs, and the spiral on all 7 features with 6 layers of 8 for 1,000
    **{name: ToyConfig(dataset=name, hidden=(4, 2), optimizer="sgd", lr=0.03, epochs=300) for name in
       ("circle", "xor", "gauss", "plane", "multi-gauss")},
    "spiral": TF_RUNS["spiral, 7 features, 6x8"],
}


def parity(checkout: Path, seeds: int) -> dict:
    """Test accuracy (a regression's test loss) of TF Playground's engine (its own random first weights) and of
    dlcore.toy on each seed's points, for each lesson: what the two reach on the same points, run after run."""
    results = {}
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        compile_playground(checkout, folder)
        for name, config in PARITY.items():
            runs = [config.with_changes(seed=seed) for seed in range(seeds)]
            score = "test_loss" if config.dataset in toy.REGRESSION else "test_accuracy"
            tf = [round(playground(run, folder)[score], 4) for run in runs]
            ours = [round(toy.train(run)[score], 4) for run in runs]
            results[name] = {"score": score, "tf": tf, "toy": ours, "tf_median": float(np.median(tf)),
                             "toy_median": float(np.median(ours)), "tf_min": min(tf), "toy_min": min(ours)}
            print(f"{name} ({score.replace('_', ' ')})\n  TF Playground {' '.join(f'{a:.4f}' for a in tf)}\n"
                  f"  dlcore.toy    {' '.join(f'{a:.4f}' for a in ours)}", file=sys.stderr)
    return results


def against_playground(checkout: Path, quick: bool) -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        compile_playground(checkout, folder)
        for name, config in TF_RUNS.items():
            config = config.with_changes(epochs=config.epochs // 10) if quick else config
            tf = playground(config, folder)
            ours = toy.train(config)
            results[name] = {"tf_seconds": round(tf["seconds"], 2), "toy_seconds": ours["seconds"],
                             "ratio": round(tf["seconds"] / ours["seconds"], 2),
                             "tf_accuracy": tf["test_accuracy"], "toy_accuracy": round(ours["test_accuracy"], 3)}
            print(f"{name}: TF Playground {tf['seconds']:.1f} s ({tf['test_accuracy']:.3f}), dlcore.toy "
                  f"{ours['seconds']:.1f} s ({ours['test_accuracy']:.3f}): {results[name]['ratio']:.2f}x",
                  file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--playground", type=Path, help="a tensorflow/playground checkout")
    parser.add_argument("--only-playground", action="store_true", help="skip the plain PyTorch loop's part")
    parser.add_argument("--parity", type=int, metavar="SEEDS",
                        help="instead, each lesson's test accuracy in TF Playground's engine and here, seeds 0..SEEDS-1")
    args = parser.parse_args()
    if args.parity:
        if args.playground is None:
            parser.error("--parity needs --playground PATH")
        torch.set_num_threads(1)
        print(json.dumps({"parity": parity(args.playground, args.parity)}))
        return
    torch.set_num_threads(1)  # the server's policy for a page's work (jobs.py); the same for both sides
    toy.train(RUNS[0].with_changes(epochs=2))  # imports and first calls paid before any clock starts
    if args.playground is None:
        print("No --playground checkout given: TF Playground's engine is not measured.", file=sys.stderr)
        against = None
    else:
        against = against_playground(args.playground, args.quick)
    if args.only_playground:
        print(json.dumps({"playground": against}))
        return
    runs = [config.with_changes(epochs=config.epochs // 10) for config in RUNS] if args.quick else RUNS
    plain(runs[0].with_changes(epochs=2))
    accuracies, plain_seconds, toy_seconds = {}, 0.0, 0.0
    for config in runs:
        started = time.perf_counter()
        plain_accuracy = plain(config)
        plain_seconds += time.perf_counter() - started
        started = time.perf_counter()
        result = toy.train(config)
        toy_seconds += time.perf_counter() - started
        accuracies[config.dataset] = {"plain": round(plain_accuracy, 3), "toy": round(result["test_accuracy"], 3)}
        print(f"{config.dataset:<7} plain {plain_accuracy:.3f}  toy {result['test_accuracy']:.3f}", file=sys.stderr)
    print(f"plain loop {plain_seconds:.1f} s, dlcore.toy {toy_seconds:.1f} s: {plain_seconds / toy_seconds:.1f}x",
          file=sys.stderr)
    print(json.dumps({"plain_seconds": round(plain_seconds, 2), "toy_seconds": round(toy_seconds, 2),
                      "ratio": round(plain_seconds / toy_seconds, 2), "accuracies": accuracies,
                      "playground": against}))


if __name__ == "__main__":
    main()
