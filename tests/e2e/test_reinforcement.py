"""Reinforcement learning in a real browser: CartPole's Double DQN starts from Start with its own settings, its latest
episode is replayed in the browser (the cart moves on the player's canvas), and Stop ends the run."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.e2e.flows import app_button
from tests.e2e.harness import screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
LAPTOP = {"width": 1366, "height": 768}
PLAYER = '[data-testid="stIFrame"]'  # components.html: the episode player's own page
# the player's canvas as pixels, and where its replay is: the frame shown and the episode's frames
LIVE = re.compile(r"Epoch \d+ of 50")  # the live run's progress: CartPole's own 50,000 steps
READ = "scene => [scene.toDataURL(), frame, D.states.length]"
# Every exception box the page ever showed, with its text: a live fragment's box lasts until its next rerun, a
# second later, and the watched fixture only looks at the page as the test ends.
EXCEPTIONS = """window.__exceptions = [];
new MutationObserver(() => document.querySelectorAll('[data-testid="stException"]').forEach(box => {
  if (box.__number === undefined) box.__number = window.__exceptions.push("") - 1;
  window.__exceptions[box.__number] = box.textContent.slice(0, 500);
})).observe(document, {childList: true, subtree: true, characterData: true});"""


def player_reading(page) -> tuple[str, int, int]:
    """A newer episode replaces the player's page, which ends a reading begun in the old one: it is read again."""
    for _ in range(5):
        try:
            return tuple(page.frame_locator(PLAYER).first.locator("#scene").evaluate(READ))
        except PlaywrightError as exc:
            if "Execution context was destroyed" not in str(exc):
                raise
    raise AssertionError("the player's page was replaced five times in a row while it was being read")


def mid_replay(page, timeout: float = 30.0) -> str:
    """The canvas's pixels at a frame before the episode's last: the replay is still moving."""
    deadline = page.evaluate("() => performance.now()") + timeout * 1000
    while page.evaluate("() => performance.now()") < deadline:
        pixels, frame, frames = player_reading(page)
        if frame < frames - 1:
            return pixels
        page.wait_for_timeout(20)
    raise AssertionError("the player never replayed an episode")


def test_cartpole_trains_from_start_and_its_latest_episode_replays_in_the_browser(watched, app_server):
    page, _ = watched
    page.set_viewport_size(LAPTOP)
    page.add_init_script(EXCEPTIONS)
    page.goto(f"{app_server.url}/reinforcement")
    wait_rendered(page)
    expect(page.get_by_text("No agent has trained on this server yet")).to_be_visible()
    app_button(page, "Start").click()
    expect(page.get_by_text(LIVE)).to_be_visible(timeout=120_000)
    page.locator(PLAYER).first.wait_for(timeout=120_000)  # its first episode ended: the player appears
    expect(page.frame_locator(PLAYER).first.locator("#caption")).to_contain_text("Episode ", timeout=30_000)
    before = mid_replay(page)
    page.wait_for_timeout(500)
    after, _, _ = player_reading(page)
    assert before.startswith("data:image/png;base64,")
    assert after != before, "the player's canvas did not change in half a second: the cart and pole never moved"
    screenshot(page, "reinforcement-cartpole-live")
    page.reload()  # as a student opens the page while the agent learns: the whole page runs, the live view in it
    wait_rendered(page)
    expect(page.frame_locator(PLAYER).first.locator("#caption")).to_contain_text("Episode ", timeout=30_000)
    assert page.evaluate("window.__exceptions") == []
    app_button(page, "Stop").click()
    expect(app_button(page, "Stop")).to_have_count(0, timeout=60_000)
    expect(page.get_by_text(LIVE)).to_have_count(0)
    wait_rendered(page)
    assert page.evaluate("window.__exceptions") == []
