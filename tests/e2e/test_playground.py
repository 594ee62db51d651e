"""The 2-D playground and Gradient descent in a real browser: step, play and watch the boundary change, pause, reset;
closed tabs' networks let go; every optimizer's path drawn, replayed, and redrawn from a new start."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.e2e.flows import boundary_redraws, open_playground, playground_epoch, plotted_paths
from tests.e2e.harness import REPO, screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def boundary(page) -> str:
    return page.get_by_role("img", name="decision boundary").get_attribute("src")


def boundary_becomes(page, src: str, same: bool = True) -> None:
    """Wait until the boundary picture is (or is no longer) `src`: the page streams its elements in one by one."""
    page.wait_for_function("([src, same]) => (document.querySelector('img[alt=\"decision boundary\"]').src === src)"
                           " === same", arg=[src, same], timeout=30_000)


def test_step_play_pause_and_reset_redraw_the_boundary(watched, app_server):
    page, _ = watched
    open_playground(page, app_server.url)
    first = boundary(page)
    assert playground_epoch(page) == 0
    page.get_by_role("button", name="Step").click()
    expect(page.get_by_test_id("stMetric").filter(has_text="Epoch")).to_contain_text("1", timeout=30_000)
    boundary_becomes(page, first, same=False)
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.wait_for_function("() => { const m = [...document.querySelectorAll('[data-testid=stMetricValue]')][0];"
                           " return m && parseInt(m.innerText) >= 5; }", timeout=60_000)
    assert boundary_redraws(page, 3.0) >= 2  # the picture keeps changing while it plays (its rate: bench/playground_rate.py)
    screenshot(page, "playground-playing")
    page.get_by_role("button", name="Pause").click()
    # the rerun that pauses waits for the epochs in flight to be drawn: seconds on a busy CI machine
    expect(page.get_by_role("button", name="Step")).to_be_enabled(timeout=30_000)
    wait_rendered(page)
    held = playground_epoch(page)
    page.wait_for_timeout(1000)
    assert playground_epoch(page) == held and held >= 5
    page.get_by_role("button", name="Reset").click()
    expect(page.get_by_test_id("stMetric").filter(has_text="Epoch")).to_contain_text("0")
    boundary_becomes(page, first)  # the same seed: the same first weights


def test_a_reload_keeps_the_network_at_the_epoch_it_reached(watched, app_server):
    """Issue 24: a reload started the network again from fresh weights."""
    page, _ = watched
    open_playground(page, app_server.url, "?dataset=xor&hidden=3")
    for epoch in ("1", "2"):
        page.get_by_role("button", name="Step").click()
        expect(page.get_by_test_id("stMetric").filter(has_text="Epoch")).to_contain_text(epoch, timeout=30_000)
    page.reload()
    wait_rendered(page)
    page.get_by_role("img", name="decision boundary").wait_for()
    assert playground_epoch(page) == 2 and "dataset=xor" in page.url
    page.get_by_role("button", name="Step").click()
    expect(page.get_by_test_id("stMetric").filter(has_text="Epoch")).to_contain_text("3", timeout=30_000)


def test_hovering_a_neuron_shows_its_output_on_the_big_picture(watched, app_server):
    page, _ = watched
    open_playground(page, app_server.url, "?dataset=xor")
    page.get_by_role("button", name="Step").click()
    expect(page.get_by_test_id("stMetric").filter(has_text="Epoch")).to_contain_text("1", timeout=30_000)
    expect(page.locator(".tp-over-3")).to_be_hidden()
    page.locator(".tp-unit-3").hover()  # the second neuron of the first hidden layer
    expect(page.locator(".tp-over-3")).to_be_visible()
    assert not page.locator(".tp-over-2").is_visible()
    screenshot(page, "playground-hover")
    page.mouse.move(5, 5)
    expect(page.locator(".tp-over-3")).to_be_hidden()


def test_a_setting_changed_in_its_popover_starts_a_fresh_network(watched, app_server):
    page, _ = watched
    open_playground(page, app_server.url)
    page.get_by_role("button", name="Step").click()
    expect(page.get_by_test_id("stMetric").filter(has_text="Epoch")).to_contain_text("1", timeout=30_000)
    page.get_by_role("button", name="Data").click()
    page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name="Spiral").click()
    page.keyboard.press("Escape")
    expect(page.get_by_text("Spiral, 500 points, noise 0 %")).to_be_visible()
    assert "dataset=spiral" in page.url  # the address is a link to this setup
    expect(page.get_by_test_id("stMetric").filter(has_text="Epoch")).to_contain_text("0")
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.locator("[class*=st-key-toy_units_0_step_more_] button").first.click()  # + over the first hidden layer, as it plays
    expect(page.get_by_text("→ 5-2 tanh")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Play")).to_be_visible(timeout=30_000)  # a fresh network, paused
    page.wait_for_url("**hidden=5%2C2**")  # one neuron more, not two: a replayed click once added a second


BALLS_AT_THEIR_ENDS = """(expected) => {
    // The replay moves one ball per optimizer (the trace 'now') along the paths, which are drawn in full.
    const data = document.querySelector('.js-plotly-plot').data, now = data.find(t => t.name === 'now');
    const paths = data.filter(t => t.mode === 'lines+markers');
    return paths.every((path, i) => now.x[i] === path.x[path.x.length - 1]) === expected;
}"""


def test_every_optimizers_path_is_drawn_replayed_and_moved_with_its_start(watched, app_server):
    page, _ = watched
    page.goto(f"{app_server.url}/gradient_descent")
    wait_rendered(page)
    page.locator(".js-plotly-plot").wait_for()
    assert plotted_paths(page) == {name: 201 for name in ("SGD", "Momentum", "Nesterov", "Adam", "RMSprop", "Adagrad")}
    page.locator(".updatemenu-button").filter(has_text="Replay").click()
    page.wait_for_function(BALLS_AT_THEIR_ENDS, arg=False, timeout=10_000)  # replayed from the start
    page.wait_for_function(BALLS_AT_THEIR_ENDS, arg=True, timeout=30_000)  # and moved to the end
    assert plotted_paths(page)["SGD"] == 201  # the paths stay drawn in full
    start = page.get_by_label("Start x")
    start.fill("5")
    start.press("Enter")
    wait_rendered(page)
    page.wait_for_function("() => document.querySelector('.js-plotly-plot').data"
                           ".find(t => t.name === 'Adam').x[0] === 5")
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()  # a click on the surface moves the start
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
    page.wait_for_function("() => document.querySelector('.js-plotly-plot').data"
                           ".find(t => t.name === 'Adam').x[0] === -5", timeout=30_000)
    # The chart's delta can reach the browser before the number input's: wait for both, and the link.
    expect(page.get_by_label("Start x")).to_have_value("-5.00", timeout=10_000)
    page.wait_for_url(lambda url: "start=-5%2C-2" in url, timeout=10_000)
    screenshot(page, "gradient-descent")


def test_closed_playground_tabs_give_their_threads_back_within_seconds():
    """Issue 22: 111 opened and closed playground tabs took the server from 9 to 128 threads for 10 minutes. Here 12
    tabs (bench/closed_tabs.py, on a server of its own; 20 and more there) each train a step and close."""
    done = subprocess.run([sys.executable, "bench/closed_tabs.py", "--sessions", "12", "--max-seconds", "60"], cwd=REPO,
                          env=os.environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == [] and result["threads_open"] >= result["threads_before"] + 12, result
    assert result["back_after_s"] is not None and result["threads_end"] <= result["threads_before"] + 2, result


def test_a_links_network_survives_play_and_a_change_in_a_popover_never_opened(watched, app_server):
    """A popover's widgets are first drawn when it opens: made with the defaults' values, they sent those back, and a
    link's 8-8 network became 4-2 when a setting beside it changed after Play."""
    page, _ = watched
    open_playground(page, app_server.url, "?hidden=8,8&activation=relu")
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Step")).to_be_enabled(timeout=30_000)
    page.get_by_role("button", name="Network").click()
    page.get_by_test_id("stSelectbox").filter(has_text="Activation").click()
    page.get_by_role("option", name="Tanh").click()
    expect(page.get_by_text("→ 8-8 tanh")).to_be_visible()  # tanh, the default, leaves the link
    page.wait_for_url(lambda url: "activation" not in url and "hidden=8%2C8" in url)
