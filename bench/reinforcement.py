"""Time to a result for the reinforcement learning family, on one CPU thread, through the one loop with the page's
and the CLI's first settings (reinforcement.make_config):

- the gridworld: the seconds of training until Q-learning's greedy action is an optimal one (dynamic programming's)
  in every cell, checked after every thousand steps; goal: within 10 s;
- CartPole: a Double DQN's mean greedy return over 10 episodes after 50,000 steps, on seeds 0, 1 and 2; goal: at
  least 195 on all three, each within 3 minutes.

    python bench/reinforcement.py [--env gridworld|cartpole|both] [--seeds 3] [--set NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dlcore import reinforcement
from dlcore.loop import Loop


def run(env: str, seed: int, changes: dict) -> dict:
    config = reinforcement.make_config(env, seed=seed, **changes)
    began = time.perf_counter()
    loop = Loop([config])
    status = loop.run()
    lane = loop.lanes[0]
    optimal_at = next((row.train_seconds for row in lane.history if row.test_accuracy == 1.0), None)
    return {"seed": seed, "status": status, "seconds": time.perf_counter() - began, "trained": loop.elapsed,
            "eval_return": reinforcement.mean_return(lane.evaluation), "optimal_at": optimal_at,
            "optimal_share": lane.evaluation.accuracy, "best_return": lane.history[-1].best_return}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", choices=("gridworld", "cartpole", "both"), default="both")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting changed from the environment's own, e.g. lr=0.0005 or schedule=cosine")
    args = parser.parse_args()
    torch.set_num_threads(1)
    changes = {}
    for item in args.set:
        name, value = item.split("=", 1)
        changes[name] = value if not value.replace(".", "", 1).replace("e-", "", 1).isdigit() else \
            (int(value) if value.isdigit() else float(value))
    for env in (("gridworld", "cartpole") if args.env == "both" else (args.env,)):
        results = [run(env, seed, changes) for seed in range(args.seeds)]
        for result in results:
            if env == "gridworld":
                print(f"gridworld seed {result['seed']}: optimal policy after {result['optimal_at'] or float('nan'):.1f} s "
                      f"of training (optimal in {result['optimal_share']:.0%} of cells at the end; run "
                      f"{result['seconds']:.1f} s)")
            else:
                print(f"cartpole seed {result['seed']}: greedy return {result['eval_return']:.1f} after "
                      f"{result['seconds']:.1f} s (best training episode {result['best_return']:g})")
        if env == "gridworld":
            times = [result["optimal_at"] for result in results]
            met = all(value is not None and value <= 10 for value in times)
            print(f"gridworld: optimal within 10 s on {sum(v is not None and v <= 10 for v in times)} of "
                  f"{len(times)} seeds: goal {'met' if met else 'not met'}")
        else:
            returns = [result["eval_return"] for result in results]
            met = all(value >= 195 for value in returns) and all(r["seconds"] <= 180 for r in results)
            print(f"cartpole: median greedy return {statistics.median(returns):.1f}, from {min(returns):.1f} to "
                  f"{max(returns):.1f}; at least 195 within 3 minutes on {sum(v >= 195 for v in returns)} of "
                  f"{len(returns)} seeds: goal {'met' if met else 'not met'}")


if __name__ == "__main__":
    main()
