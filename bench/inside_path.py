"""A drawn digit's whole path on Inside the network, on CPU: how long the page takes from the canvas to its figures.

For each network (the seed presets, the starter CNN, a CNN with batch norm, and the widest CNN the limits allow, to
show the caps at work) loaded from a safetensors checkpoint the way the page loads it, this times (median and 95th
percentile over many repeats, after a warm-up):
  path_ms      the canvas's 280x280 RGBA array -> MNIST-style preprocessing -> every layer's output
               (inside.trace) -> every layer's figure (ui.inside.path_figures) -> the JSON st.plotly_chart sends,
               validated as Streamlit does, or the HTML of feature maps. The goal: < 200 ms.
  trace_ms     the model part alone.
Weights are left at their initial values: the time does not depend on what they are. Each is timed with torch's
default threads and with one thread (what a server's page thread gets beside a training run on 2 cores).

With --page, the page itself in Debian's Chromium at 1366x768, before and after side by side: the CNN preset trained
3 epochs on mnist-sample, then for each repeat fresh servers of this tree and of --baseline (a git revision,
exported with git archive), in alternating order, each timed on
  open_s       opening the run the server has not shown yet as a student does, from another page of the app (the
               Activation lab, whose charts have loaded Plotly in the tab) by the sidebar's link: from the click to
               every section drawn, every chart and picture included (goal 3 s)
  open_fresh_tab_s  the same run's address typed into a new tab that has drawn no chart (on another fresh server):
               Streamlit's page and its 4.7 MB Plotly bundle load and compile first; no goal, reported
  redraw_s     a new drawing: from the mouse let go to every layer and the embedding redrawn (goal 1 s),
               the median of REDRAWS strokes
  *_cpu_s      the same, in the server process's CPU seconds: on a machine shared with others the wall clock
               varies twofold from one minute to the next, this far less
Both goals are for a quiet machine; the load average is printed with the figures.

Usage: python bench/inside_path.py [--repeats 30]
       DLCORE_DATA_DIR=../shared/data python bench/inside_path.py --page [--repeats 3] [--baseline REV]
Last stdout line: {"goal_ms": 200, "cnn": {"path_ms": ..., ...}, ..., "under_goal": true}
       with --page: {"open_s": {"before": ..., "after": ..., "ratio": before / after}, "open_fresh_tab_s": {...},
                     "redraw_s": {...}, "load": ...}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import plotly.io
import plotly.tools
import torch

from bench.predict_latency import timed
from dlcore import data, inside, models, predict, preprocess, runs
from dlcore.config import MAX_CHANNELS, ConvBlock, DenseLayer, ModelSpec
from ui.inside import path_figures

GOAL_MS = 200
GOAL_OPEN_S, GOAL_REDRAW_S = 3.0, 1.0
BASELINE = "0c13b85"  # the last commit before issue 23.4 made the page quicker
REDRAWS = 5
STROKES = [[(40 + 12 * i, 50), (150 - 8 * i, 60), (70 + 6 * i, 170)] for i in range(REDRAWS + 1)]  # sevens, each new
NETWORKS = {
    **models.PRESETS,
    "starter": predict.STARTER_CONFIG.model,
    "cnn-batchnorm": ModelSpec("cnn", conv=(ConvBlock(32, batch_norm=True), ConvBlock(64, pool="max", batch_norm=True)),
                               dense=(DenseLayer(128, batch_norm=True, dropout=0.2),)),
    "widest-cnn": ModelSpec("cnn", conv=(ConvBlock(MAX_CHANNELS, padding="same"), ConvBlock(MAX_CHANNELS, pool="max")),
                            dense=(DenseLayer(128),)),
}


def whole_path(classifier: predict.Classifier, canvas: np.ndarray) -> int:
    """What the page does when the drawing changes; returns the bytes of chart JSON it sends."""
    steps = preprocess.mnist_style(canvas, classifier.info.mean, classifier.info.std)
    path = inside.trace(classifier.model, classifier.config, steps.normalized)
    sent = 0
    for _, _, figure in path_figures(path, classifier.info.classes):
        if isinstance(figure, str):  # feature maps, as HTML
            sent += len(figure)
        elif figure is not None:
            checked = plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True)
            sent += len(plotly.io.to_json(checked, validate=False))
    return sent


EVERY_SECTION_DRAWN = """() => document.querySelector('[data-test-script-state="notRunning"]')
    && document.querySelector('.st-key-inside_embedding .main-svg') && !document.querySelector('[data-testid=stSkeleton]')
    && [...document.querySelectorAll('.stPlotlyChart')].every(chart => chart.querySelector('.main-svg'))
    && [...document.images].every(image => image.complete)"""


def _server_cpu(server):
    import psutil

    process = psutil.Process(server.process.pid)

    def seconds() -> float:
        times = process.cpu_times()
        return times.user + times.system

    return seconds


def _first_visit(browser, server, address: str):
    """A new tab's first page, which starts the engine's imports as a class's first visitor does; waits for them."""
    from tests.e2e.harness import new_page, wait_rendered

    page, _ = new_page(browser, server.url)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{server.url}{address}")
    wait_rendered(page, timeout=120_000)
    page.wait_for_function("() => !document.body.innerText.includes('Starting PyTorch')", timeout=120_000)
    return page


def _opened(page, start: float, cpu, used: float) -> dict[str, float]:
    """Seconds until every section is drawn, every chart and picture included, and the server's CPU seconds."""
    page.get_by_text("What the network learned").wait_for(timeout=300_000)
    page.wait_for_function(EVERY_SECTION_DRAWN, timeout=300_000, polling=50)
    return {"open": time.perf_counter() - start, "open_cpu": cpu() - used}


def open_from_the_app(browser, server) -> tuple:
    """A student's way in: from a page with charts (Activation lab), the sidebar's link to Inside the network, which
    opens the newest run, one this server has not shown. Returns the figures and the page."""
    cpu = _server_cpu(server)
    page = _first_visit(browser, server, "/activation_lab")
    page.locator(".stPlotlyChart .main-svg").first.wait_for(timeout=120_000)
    start, used = time.perf_counter(), cpu()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Inside the network").click()
    return _opened(page, start, cpu, used), page


def open_in_a_fresh_tab(browser, server, run_id: int) -> float:
    """The run's address typed into a tab that has drawn no chart yet: Streamlit's page and its Plotly bundle (4.7 MB
    of JavaScript, about a second to compile on this machine) load with it."""
    cpu = _server_cpu(server)
    page = _first_visit(browser, server, "/")
    start, used = time.perf_counter(), cpu()
    page.goto(f"{server.url}/inside_the_network?run={run_id}")
    figures = _opened(page, start, cpu, used)
    page.context.close()
    return figures["open"]


def redraw_seconds(page, server) -> dict[str, float]:
    """The median from the mouse let go to every layer and the embedding redrawn, over REDRAWS new drawings."""
    from tests.e2e.flows import draw
    from tests.e2e.harness import wait_rendered

    cpu = _server_cpu(server)
    page.get_by_text("Draw one here", exact=True).click()
    page.locator("canvas.upper-canvas").wait_for()
    wait_rendered(page)
    page.evaluate("""() => {
        const app = document.querySelector('[data-test-script-state]');
        window.runs = [];
        new MutationObserver(() => window.runs.push([app.getAttribute('data-test-script-state'), performance.now()]))
            .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
        window.addEventListener('mouseup', () => { window.letGo = performance.now(); window.runs = []; }, true);
    }""")
    redraws, redraw_cpu = [], []
    for i, stroke in enumerate(STROKES):
        used = cpu()
        draw(page, [stroke])
        page.wait_for_function("() => window.runs.some(([state]) => state === 'running') && "
                               "window.runs[window.runs.length - 1][0] === 'notRunning'", timeout=120_000)
        drawn = page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame("
                              "() => done(performance.now() - window.letGo))))")
        if i:  # the first drawing replaces the empty canvas's message; the others are what a student redraws
            redraws.append(drawn / 1000)
            redraw_cpu.append(cpu() - used)
    page.context.close()
    return {"redraw": statistics.median(redraws), "redraw_cpu": statistics.median(redraw_cpu)}


def trained_home(folder: Path) -> int:
    """A runs folder with the CNN preset trained 3 epochs on mnist-sample (snapshots kept); returns its run id."""
    env = {**os.environ, "DLCORE_HOME": str(folder)}
    done = subprocess.run([sys.executable, "-m", "dlcore", "train", "--preset", "cnn", "--dataset", "mnist-sample",
                           "--epochs", "3", "--json"], env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["run_id"]


def page_main(repeats: int, baseline: str) -> None:
    """Open and redraw, this tree against the baseline revision, each on fresh servers, in alternating order."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.harness import CHROMIUM_ARGS, AppServer, require_chromium

    folder = Path(tempfile.mkdtemp(prefix="dlcore-inside-page-"))
    trees = {"before": folder / "before", "after": Path(__file__).resolve().parents[1]}
    trees["before"].mkdir()
    archive = subprocess.run(["git", "archive", baseline], cwd=trees["after"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(trees["before"])], input=archive, check=True)
    run_id = trained_home(folder / "home")
    times: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        for repeat in range(repeats):
            for name in sorted(trees, reverse=repeat % 2 == 1):
                server = AppServer(folder / "home", script=str(trees[name] / "app.py")).start()
                try:
                    measured, page = open_from_the_app(browser, server)
                    measured.update(redraw_seconds(page, server))
                finally:
                    server.stop()
                server = AppServer(folder / "home", script=str(trees[name] / "app.py")).start()  # has shown nothing
                try:
                    measured["open_fresh_tab"] = open_in_a_fresh_tab(browser, server, run_id)
                finally:
                    server.stop()
                for measure, value in measured.items():
                    times[name].setdefault(measure, []).append(value)
                print(f"repeat {repeat + 1} {name:<6} open {measured['open']:5.1f} s ({measured['open_cpu']:4.1f} s of "
                      f"server CPU; {measured['open_fresh_tab']:4.1f} s in a fresh tab), redraw "
                      f"{measured['redraw']:4.2f} s ({measured['redraw_cpu']:4.2f}) (load {os.getloadavg()[0]:.1f})",
                      flush=True)
        browser.close()
    figures = {"baseline": baseline, "load": round(os.getloadavg()[0], 1), "cpus": os.cpu_count()}
    for measure, goal in (("open", GOAL_OPEN_S), ("open_cpu", None), ("open_fresh_tab", None), ("redraw", GOAL_REDRAW_S),
                          ("redraw_cpu", None)):
        before, after = (statistics.median(times[name][measure]) for name in ("before", "after"))
        figures[f"{measure}_s"] = {"before": round(before, 2), "after": round(after, 2),
                                   "ratio": round(before / after, 2), **({"goal": goal} if goal else {})}
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="30 for the path, 3 with --page")
    parser.add_argument("--page", action="store_true", help="time the page in Chromium, before and after")
    parser.add_argument("--baseline", default=BASELINE, help="the git revision --page compares against")
    args = parser.parse_args()
    if args.page:
        page_main(args.repeats or 3, args.baseline)
        return
    args.repeats = args.repeats or 30

    digit = data.load("mnist-sample").test_images[0].numpy()
    canvas = preprocess.canvas_style(digit, np.random.default_rng(0), variant=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; canvas {canvas.shape}")
    figures: dict = {"goal_ms": GOAL_MS}
    folder = Path(tempfile.mkdtemp(prefix="dlcore-inside-"))
    default_threads = torch.get_num_threads()
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        for name, spec in NETWORKS.items():
            config = predict.STARTER_CONFIG.with_changes(model=spec)
            classifier = predict.load(runs.save_checkpoint(folder / f"{name}.safetensors", models.build(spec).eval(), config))
            steps = preprocess.mnist_style(canvas, classifier.info.mean, classifier.info.std)
            path_ms, path_p95 = timed(lambda: whole_path(classifier, canvas), args.repeats)
            trace_ms, _ = timed(lambda: inside.trace(classifier.model, classifier.config, steps.normalized), args.repeats)
            key = name if threads == default_threads else f"{name}@1thread"
            figures[key] = {"path_ms": round(path_ms, 1), "path_p95_ms": round(path_p95, 1),
                            "trace_ms": round(trace_ms, 1), "chart_kib": round(whole_path(classifier, canvas) / 1024)}
            print(f"{key:<22} whole path {path_ms:6.1f} ms median (p95 {path_p95:6.1f}); model alone {trace_ms:5.1f} ms; "
                  f"{figures[key]['chart_kib']:,} KiB of charts", flush=True)
    figures["under_goal"] = all(row["path_ms"] < GOAL_MS for row in figures.values() if isinstance(row, dict))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
