"""The sidebar's status on a fresh server of its own, whose first visitor arrives while torch is still imported."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import AppServer, new_page, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory):
    server = AppServer(tmp_path_factory.mktemp("status") / "home").start()
    yield server
    server.stop()


def test_the_first_visitors_sidebar_shows_the_device_once_torch_is_in_without_a_click(browser, fresh_server):
    page, watch = new_page(browser, fresh_server.url)
    frames = []
    page.on("websocket", lambda socket: socket.on("framereceived", lambda frame: frames.append(frame)))
    try:
        page.goto(fresh_server.url)
        wait_rendered(page, timeout=120_000)
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar).to_contain_text("Starting PyTorch…")
        expect(sidebar).to_contain_text("MNIST", timeout=120_000)  # the data status, and nobody clicked
        expect(sidebar).not_to_contain_text("Starting PyTorch…")
        # the status is drawn in place, without a rerun of the whole app (which reset Build & train's sliders);
        # the visitor's next click reruns the app, and from then on nothing polls
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Activation lab").click()
        expect(page.get_by_role("heading", level=1).first).to_contain_text("Activation lab")
        wait_rendered(page)
        page.wait_for_timeout(1_000)
        before = len(frames)
        page.wait_for_timeout(3_000)
        assert len(frames) == before, "the sidebar still polls the server after the visitor's first click"
        expect(sidebar).to_contain_text("MNIST")
        problems = watch.problems()
    finally:
        page.context.close()
    assert not problems, problems
