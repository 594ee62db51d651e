"""How soon a fresh browser tab draws a page's first chart, and how much of that is the playground's doing.

Issue 23.5: a first chart took 5 s to appear in a fresh tab. Each repeat opens a page in a new Chromium context (no
cache; an identity already, so no reload) at 1366x768 and notes, from navigation: the title drawn, the first chart's
message arriving over the websocket (the server's part), Plotly's chunk of Streamlit's frontend loaded (4.7 MB, asked
for when that message arrives) and the chart drawn. The pages: Activation lab (its first chart is at the top), a
finished run on Build & train, and Activation lab in a browser on its first visit (it takes its identity and reloads
once). The baseline is a Streamlit app of one title and one small chart, started the same way, so the ratio shows
what the playground adds to Streamlit's and Plotly's own first chart.

Usage: python bench/first_chart.py [--repeats 3]
Last stdout line: {"<page>": {"title_s", "message_s", "chunk_s", "drawn_s"}, ..., "ratio": lab drawn / baseline drawn}
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness import CHROMIUM_ARGS, EXTERNAL, AppServer, browser_identity, require_chromium  # noqa: E402

BASELINE = ('import plotly.graph_objects as go\nimport streamlit as st\n\nst.title("Hello")\n'
            'st.plotly_chart(go.Figure(go.Scatter(y=[3, 1, 2])))\n')
DRAWN = ".js-plotly-plot .main-svg"
MARKS = """window.__marks = {};
new MutationObserver(() => {
  if (!window.__marks.title && document.querySelector('h1')) window.__marks.title = performance.now();
}).observe(document, {subtree: true, childList: true});"""


def first_chart(browser, url: str, named: bool = True) -> dict[str, float]:
    """Seconds from navigation to the title, the first chart's message, Plotly's chunk and the drawn chart; a browser
    not named yet gets its identity and reloads once first (ui.classroom.identity_ui)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from dlcore import identity

    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.route(EXTERNAL, lambda route: route.abort("blockedbyclient"))
    if named:
        context.add_cookies([{"name": identity.COOKIE, "value": browser_identity(), "url": url}])
    context.add_init_script(MARKS)
    page = context.new_page()
    message: list[float] = []

    def received(payload) -> None:
        forward = ForwardMsg()
        if message or not isinstance(payload, bytes):
            return
        forward.ParseFromString(payload)
        if forward.WhichOneof("type") == "delta" and forward.delta.new_element.WhichOneof("type") == "plotly_chart":
            message.append(time.perf_counter())

    page.on("websocket", lambda socket: socket.on("framereceived", received))
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(DRAWN, timeout=180_000)
    drawn = time.perf_counter() - started
    chunk = page.evaluate("performance.getEntriesByType('resource').find(e => e.name.includes('PlotlyChart'))"
                          "?.responseEnd ?? 0")
    title = page.evaluate("window.__marks.title || 0")
    context.close()
    return {"title_s": title / 1000, "message_s": message[0] - started, "chunk_s": chunk / 1000, "drawn_s": drawn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from dlcore import TrainConfig, models, runs

    with tempfile.TemporaryDirectory(prefix="dlcore-chart-bench-") as tmp, sync_playwright() as playwright:
        baseline_script = Path(tmp) / "one_chart.py"
        baseline_script.write_text(BASELINE)
        home = Path(tmp) / "home"
        store = runs.RunStore(home)  # a finished run for Build & train to show, recorded as training leaves one
        run_id = store.create(TrainConfig(model=models.preset("keras-mlp")), "bench")
        store.update(run_id, status="stopped", seconds=1.0,
                     history={"steps": [2.3, 1.2, 0.8], "steps_per_epoch": 3, "epochs": []})
        app, baseline = AppServer(home).start(), AppServer(Path(tmp) / "baseline-home", script=str(baseline_script)).start()
        try:
            browser = playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
            pages = {"activation_lab": f"{app.url}/activation_lab", "build_and_train_run": f"{app.url}/build_and_train?run={run_id}",
                     "baseline": baseline.url}
            for url in pages.values():  # each server's first visit warms its imports; fresh tabs are what is measured
                first_chart(browser, url)
            figures = {name: [first_chart(browser, url) for _ in range(args.repeats)] for name, url in pages.items()}
            figures["activation_lab_first_visit"] = [first_chart(browser, pages["activation_lab"], named=False)
                                                     for _ in range(args.repeats)]
            browser.close()
        finally:
            app.stop()
            baseline.stop()
    result = {name: {key: round(statistics.median(run[key] for run in runs_), 2) for key in runs_[0]}
              for name, runs_ in figures.items()}
    result["ratio"] = round(result["activation_lab"]["drawn_s"] / result["baseline"]["drawn_s"], 2)
    for name, marks in result.items():
        if name != "ratio":
            print(f"{name}: title {marks['title_s']:.1f} s, chart message {marks['message_s']:.1f} s, Plotly loaded "
                  f"{marks['chunk_s']:.1f} s, chart drawn {marks['drawn_s']:.1f} s", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
