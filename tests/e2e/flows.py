"""What a user does on a page, step by step, shared by the test modules and bench/load.py."""

from __future__ import annotations

import re

from tests.e2e.harness import wait_rendered

FINISHED = re.compile(r"Run #\d+ finished: test accuracy")


def open_train(page, url: str, query: str = "") -> None:
    page.goto(f"{url}/build_and_train{query}")
    wait_rendered(page)
    page.get_by_role("button", name="Start training").wait_for()


def set_epochs(page, epochs: int) -> None:
    field = page.get_by_label("Epochs")
    field.fill(str(epochs))
    field.press("Enter")
    wait_rendered(page)


def start_run(page) -> int:
    """Press Start; returns the run id the page now follows (it is kept in the address bar for reloads)."""
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"[?&]run=\d+"))
    return int(re.search(r"[?&]run=(\d+)", page.url).group(1))


def app_button(page, name: str):
    """A button the page drew, by its exact label: Streamlit's own header shows a "Stop" button of its own while a
    script runs, which comes and goes (CI: a click on it timed out, "detached from the DOM")."""
    return page.get_by_test_id("stMain").get_by_role("button", name=name, exact=True)


def open_draw(page, url: str) -> None:
    page.goto(f"{url}/draw_and_classify")
    wait_rendered(page)
    page.locator("canvas.upper-canvas").wait_for()


def draw_until_shown(page, strokes, text: str) -> None:
    """Draw, and again over it until `text` shows (three tries): a page's canvas may miss its first stroke after the
    page loads (streamlit-drawable-canvas 0.13, as on Generative models)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    for _ in range(3):
        draw(page, strokes)
        try:
            expect(page.get_by_text(text)).to_be_visible(timeout=10_000)
            return
        except (AssertionError, PlaywrightTimeout):
            continue


def draw(page, strokes) -> None:
    """Mouse strokes on the 280x280 canvas, in canvas pixels, as a user drags the brush."""
    canvas = page.locator("canvas.upper-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        page.mouse.up()


def reading(page):
    """The digit Draw & classify shows as its answer."""
    return page.get_by_test_id("stMetric").filter(has_text="The model reads").get_by_test_id("stMetricValue")


def picture_upload(page):
    """Draw & classify's picture uploader (the page has others, for weights, inside a popover)."""
    return page.get_by_test_id("stFileUploader").filter(has_text="A picture of one digit")


def open_playground(page, url: str, query: str = "") -> None:
    page.goto(f"{url}/playground{query}")
    wait_rendered(page)
    page.get_by_role("img", name="decision boundary").wait_for()


def playground_epoch(page) -> int:
    return int(page.get_by_test_id("stMetric").filter(has_text="Epoch").get_by_test_id("stMetricValue")
               .inner_text().replace(",", ""))


def boundary_redraws(page, seconds: float = 5.0, alt: str = "decision boundary") -> int:
    """How many different pictures (the boundary, or another live one by its alt text) the browser showed in
    `seconds`, sampled every 20 ms in the page."""
    return page.evaluate("""([seconds, alt]) => new Promise(done => {
        const seen = new Set(), started = performance.now();
        const sample = setInterval(() => {
            const image = document.querySelector(`img[alt="${alt}"]`);
            if (image) seen.add(image.src.length + ':' + image.src.slice(-80));
            if (performance.now() - started > seconds * 1000) { clearInterval(sample); done(seen.size); }
        }, 20);
    })""", [seconds, alt])


def plotted_paths(page) -> dict[str, int]:
    """The Gradient descent chart's optimizer paths as the browser's Plotly holds them: name -> points drawn."""
    return page.evaluate("""() => Object.fromEntries(document.querySelector('.js-plotly-plot').data
        .filter(trace => trace.mode === 'lines+markers').map(trace => [trace.name, trace.x.length]))""")



STEP_CHART_CHANGES = """async (seconds) => {
    // The step-loss chart's smoothed line, read from the figure Plotly draws every 50 ms (its x may arrive as typed
    // arrays' base64, so it is compared as JSON): a change is a redraw with news.
    const last = () => {
        const plot = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');
        const trace = plot && plot.data && plot.data[plot.data.length - 1];
        return trace ? JSON.stringify(trace.x) : null;
    };
    let seen = last(), changes = 0;
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
        await new Promise(resolve => setTimeout(resolve, 50));
        const now = last();
        if (now !== seen) { changes += 1; seen = now; }
    }
    return changes;
}"""


def step_chart_changes(page, seconds: float) -> int:
    """How many times a live run's step-loss chart (the page's first chart) changed in the browser over `seconds`."""
    return page.evaluate(STEP_CHART_CHANGES, seconds)
