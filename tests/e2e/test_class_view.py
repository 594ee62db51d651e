"""What a class sees (issue 23): after Start, and on opening a page with something live, the live view is on screen;
presenter mode keeps a live demo's controls and hides the server's technical text; /home?present=1 opens."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.flows import app_button, open_train, set_epochs, start_run
from tests.e2e.harness import VIEWPORT, screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def in_view(page, selector: str, timeout: float = 20_000) -> None:
    """Wait until the element's top is in the upper part of the window, or in the window with the page scrolled as far
    as it goes (a short page cannot bring it higher); Streamlit scrolls inside its main block."""
    page.wait_for_function(
        "([selector, height]) => { const e = document.querySelector(selector); if (!e) return false;"
        " const top = e.getBoundingClientRect().top, main = document.querySelector('[data-testid=stMain]');"
        " const atEnd = main && Math.ceil(main.scrollTop + main.clientHeight) >= main.scrollHeight - 2;"
        " return top >= 0 && (top < height * 0.6 || (atEnd && top < height * 0.9)); }",
        arg=[selector, VIEWPORT["height"]], timeout=timeout)


def test_start_brings_the_live_run_into_view_and_so_does_coming_back_to_it(watched, app_server):
    """Start sat 1.7 screens down and afterwards only the progress bar was in view; after a reload the live run was
    two screens down."""
    page, _ = watched
    open_train(page, app_server.url)
    set_epochs(page, 100)  # 40 ended under load before the reloaded page clicked Stop (CI)
    start_run(page)
    in_view(page, ".st-key-watch")
    expect(app_button(page, "Stop")).to_be_in_viewport()
    screenshot(page, "class-view-started")
    page.reload()
    wait_rendered(page)
    in_view(page, ".st-key-watch")
    app_button(page, "Stop").click()


def test_presenter_mode_keeps_the_playgrounds_controls_and_drops_the_technical_text(watched, app_server):
    page, _ = watched
    page.set_viewport_size({"width": 1366, "height": 768})  # a classroom projector's
    page.goto(f"{app_server.url}/playground?present=1&hidden=8,8,8&features=x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2")  # a
    # long summary line
    wait_rendered(page)
    for name in ("Data", "Network", "Training"):  # hidden with the other settings before
        expect(page.get_by_role("button", name=name)).to_be_in_viewport()
    expect(page.get_by_role("button", name="Play")).to_be_in_viewport()
    expect(page.get_by_alt_text("decision boundary")).to_be_in_viewport(ratio=0.97)  # the point of the page, whole
    sidebar = page.get_by_test_id("stSidebar").inner_text()
    assert "DLCORE_DATA_DIR" not in sidebar and "was found on this server" not in sidebar
    screenshot(page, "class-view-playground-present")
    page.goto(f"{app_server.url}/optimizer_race?present=1")
    wait_rendered(page)
    expect(page.get_by_text("Lanes", exact=False).first).to_be_visible()  # which lanes race is the lesson
    expect(page.get_by_role("button", name="Start the race")).to_be_visible()


def test_home_by_its_name_opens_in_presenter_mode(watched, app_server):
    page, _ = watched
    page.goto(f"{app_server.url}/home?present=1")
    wait_rendered(page)
    expect(page.get_by_role("heading", name="Deep Learning Playground")).to_be_visible()
    assert "Page not found" not in page.content()
    expect(page.get_by_test_id("stSidebar").get_by_role("switch", name="Presenter mode")).to_be_checked()


def test_gradient_descents_settings_and_chart_are_on_screen_together_also_in_presenter_mode(watched, app_server):
    """The settings sat above a 560-pixel chart: never both in view; presenter mode hid the surface picker."""
    page, _ = watched
    for query in ("", "?present=1"):
        page.goto(f"{app_server.url}/gradient_descent{query}")
        wait_rendered(page)
        expect(page.get_by_test_id("stSelectbox").filter(has_text="Surface")).to_be_in_viewport()
        expect(page.get_by_test_id("stPlotlyChart")).to_be_in_viewport(ratio=0.5)
    screenshot(page, "class-view-gradient-descent-present")
