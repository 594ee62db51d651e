"""Training speed with a page watching, against the CLI: what live charts cost the run they show.

All paths train the same config in this one process through the same job manager. The CLI path is
`dlcore.cli.main(["train", ...])` with torch's default threads. The page path submits the run and polls
it as the Build & train fragment does: every POLL_SECONDS it takes progress(), builds the live
figures with the page's own functions, turns them into the JSON st.plotly_chart sends (validated the way
Streamlit does) and, if this project's Streamlit config leaves runner.postScriptGC on, collects garbage
as Streamlit does after every fragment rerun. It trains with the server's thread policy
(jobs.training_threads: all cores but one); a third path polls the same way with the CLI's threads, to
separate the cost of polling from the cost of leaving a core to the server.
The paths alternate after one unmeasured warm-up run; the figure compared is each run's training
samples/s (per-epoch test evaluation excluded), median over the repeats.

Usage (from the repository root, so .streamlit/config.toml applies):
    DLCORE_DATA_DIR=../shared/data python bench/ui_overhead.py [--dataset D] [--preset P] [--epochs N] [--repeats R]
Last stdout line: {"ratio": watched over CLI samples/s, both with the CLI's threads, ...}; goal >= 0.9.
"ratio_with_server_threads" compares the page as served (one core left to the server) with the CLI.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DLCORE_HOME", tempfile.mkdtemp(prefix="dlcore-bench-"))

import plotly.io
import plotly.tools
import torch
from streamlit import config as streamlit_config

from dlcore import TrainConfig, cli, data, jobs, models
from ui import charts
from ui.runs import POLL_SECONDS


def cli_run(config_path: Path) -> float:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["train", "--config", str(config_path), "--json"])
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    if code != 0:
        sys.exit(f"the CLI run failed: {summary['message']}")
    return summary["samples_per_sec"]


def page_run(config: TrainConfig, threads: int) -> tuple[float, int]:
    """A run watched at the fragment's rate; returns its samples/s and how many polls drew charts."""
    post_run_gc = streamlit_config.get_option("runner.postScriptGC")
    torch.set_num_threads(threads)
    manager = jobs.job_manager()
    run_id = manager.submit(config)
    polls, next_poll = 0, time.perf_counter()
    while True:
        progress = manager.progress(run_id)
        if progress.finished:
            break
        live = [charts.loss_figure([("smoothed", progress.step_losses, progress.steps_per_epoch)], revision=run_id),
                *(charts.epoch_figure([("", progress.history)], metric, run_id) for metric in ("accuracy", "loss"))]
        for figure in live:  # what Build & train's live fragments draw
            checked = plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True)
            plotly.io.to_json(checked, validate=False)
        if post_run_gc:
            gc.collect(2)
        polls += 1
        next_poll += POLL_SECONDS  # run_every fires on a clock, however long each poll took
        time.sleep(max(0.0, next_poll - time.perf_counter()))
    if progress.status != "done":
        sys.exit(f"the page run ended {progress.status}: {progress.message}")
    return progress.samples_per_sec, polls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist" if data.status("fashion-mnist").available else "mnist-sample")
    parser.add_argument("--preset", default="simple-nn", choices=list(models.PRESETS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=4, help="runs per path, alternating")
    args = parser.parse_args()

    config = TrainConfig(dataset=args.dataset, model=models.preset(args.preset), epochs=args.epochs,
                         batch_size=args.batch_size, device="cpu")
    config_path = Path(os.environ["DLCORE_HOME"]) / "bench-config.json"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config.to_json())

    default_threads = torch.get_num_threads()
    server_threads = jobs.training_threads(reserve=1)  # what every job on a server trains with
    polls: list[int] = []

    def cli() -> float:
        torch.set_num_threads(default_threads)  # the CLI's policy: every core (one manager serves all paths)
        return cli_run(config_path)

    def watched(threads: int) -> float:
        rate, count = page_run(config, threads)
        polls.append(count)
        return rate

    paths = {"cli": cli, "page": lambda: watched(server_threads), "page_cli_threads": lambda: watched(default_threads)}
    cli()  # warm-up: data in memory, thread pools, first optimizer, plotly's validators
    watched(server_threads)
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for i in range(args.repeats):
        for name in list(paths) if i % 2 == 0 else list(paths)[::-1]:
            rates[name].append(paths[name]())
        print(f"repeat {i + 1}: " + ", ".join(f"{name} {rates[name][-1]:,.0f}" for name in paths) + " samples/s",
              file=sys.stderr)
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(json.dumps({
        "dataset": args.dataset, "preset": args.preset, "epochs": args.epochs, "batch_size": args.batch_size,
        "poll_seconds": POLL_SECONDS, "polls_per_page_run": statistics.median(polls),
        "post_script_gc": streamlit_config.get_option("runner.postScriptGC"),
        "cli_threads": default_threads, "server_threads": server_threads,
        "cli_samples_per_sec": round(median["cli"], 1), "page_samples_per_sec": round(median["page"], 1),
        "page_cli_threads_samples_per_sec": round(median["page_cli_threads"], 1),
        "runs": {name: [round(r) for r in values] for name, values in rates.items()},
        "ratio_with_server_threads": round(median["page"] / median["cli"], 3),
        "ratio": round(median["page_cli_threads"] / median["cli"], 3),
    }))


if __name__ == "__main__":
    main()
