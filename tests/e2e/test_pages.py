"""Every page opens in a real browser, from the home page's links, the sidebar and its own URL, without errors."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import SCRIPT_DONE, screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
OPEN_MS = 30_000  # opening a page is a server round trip and a script run: seconds on a busy machine


def _title(page) -> str:
    return page.get_by_role("heading", level=1).first.inner_text()


def _follow(page, link, watch) -> str:
    """Click a link to another page and wait until that page's title is drawn and its script is done."""
    before = _title(page)
    href = link.get_attribute("href")
    link.click()
    page.wait_for_url(lambda url: url.split("?")[0].rstrip("/").endswith(href.split("?")[0].rstrip("/").rsplit("/", 1)[-1]))
    page.wait_for_function(
        "before => { const h = document.querySelector('h1'); return h && h.innerText !== before; }", arg=before,
    )
    page.wait_for_selector(SCRIPT_DONE, state="attached")
    assert not watch.problems(), f"after opening {href}: {watch.problems()}"
    return _title(page)


def _sidebar_pages(page) -> dict[str, str]:
    """Sidebar entry text -> its URL, as the navigation draws them (new pages join automatically)."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    return {link.inner_text().splitlines()[-1].strip(): link.get_attribute("href") for link in links.all()}


def test_home_leads_to_every_page_and_each_opens_by_url(watched, app_server):
    page, watch = watched
    page.goto(app_server.url)
    wait_rendered(page)
    screenshot(page, "home")
    pages = _sidebar_pages(page)
    assert {"Home", "Activation lab", "Build & train", "Draw & classify", "Inside the network", "Optimizer race",
            "Run board"} <= set(pages), pages

    home_links = page.locator('[data-testid="stPageLink"] a')
    linked = [home_links.nth(i).get_attribute("href") for i in range(home_links.count())]
    assert {"activation_lab", "build_and_train", "draw_and_classify", "inside_the_network", "optimizer_race",
            "run_board"} <= set(linked), linked
    titles = {}
    for index, href in enumerate(linked):
        titles[href] = _follow(page, page.locator('[data-testid="stPageLink"] a').nth(index), watch)
        screenshot(page, f"page-{href}")
        _follow(page, page.locator('[data-testid="stSidebarNav"] a', has_text="Home"), watch)
    for name, url in pages.items():
        if url.rstrip("/") == app_server.url or url.rsplit("/", 1)[-1] in titles:
            continue
        slug = url.rsplit("/", 1)[-1]
        titles[slug] = _follow(page, page.locator('[data-testid="stSidebarNav"] a', has_text=name), watch)
        screenshot(page, f"page-{slug}")
        _follow(page, page.locator('[data-testid="stSidebarNav"] a', has_text="Home"), watch)

    for slug, title in titles.items():
        page.goto(f"{app_server.url}/{slug}")
        wait_rendered(page)
        expect(page.get_by_role("heading", level=1).first).to_have_text(title)
        expect(page.get_by_test_id("stSidebar")).to_contain_text("5,000 real training digits")  # the data status
        assert not watch.problems(), f"/{slug} by URL: {watch.problems()}"


def test_toolbar_offers_viewers_no_developer_options(watched, app_server):
    """client.toolbarMode = viewer: even on localhost (where 'auto' shows them) there is no Rerun or Clear cache."""
    page, _ = watched
    page.goto(app_server.url)
    wait_rendered(page)
    page.get_by_test_id("stMainMenuButton").click()
    menu = page.get_by_test_id("stMainMenuList")
    menu.wait_for()
    items = menu.inner_text()
    assert "Print" in items
    for developer_option in ("Rerun", "Clear cache", "Settings", "Developer options"):
        assert developer_option not in items, items
    assert page.get_by_test_id("stAppDeployButton").count() == 0


def test_a_home_card_opens_its_page_from_anywhere_on_it_and_from_the_keyboard(watched, app_server):
    """A click on a card's title or text follows its link, in the same session (Streamlit's navigation, no reload)."""
    page, watch = watched
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.goto(app_server.url)
    wait_rendered(page)
    # the cards' style comes with st.html, whose code the browser loads on first use: after the script has ended
    expect(page.locator(".st-key-home_card_1_activation_lab")).to_have_css("position", "relative", timeout=OPEN_MS)
    text = page.get_by_text("Plot ReLU, GELU, sigmoid").bounding_box()
    page.mouse.click(text["x"] + text["width"] / 2, text["y"] + text["height"] / 2)  # the description, not the link
    expect(page).to_have_url(re.compile(r"/activation_lab(\?|$)"), timeout=OPEN_MS)
    expect(page.get_by_role("heading", level=1).first).to_have_text("Activation lab", timeout=OPEN_MS)

    page.locator('[data-testid="stSidebarNav"] a', has_text="Home").click()
    wait_rendered(page)
    title = page.get_by_role("heading", name="Optimizer race").bounding_box()
    page.mouse.click(title["x"] + 5, title["y"] + title["height"] / 2)
    expect(page).to_have_url(re.compile(r"/optimizer_race(\?|$)"), timeout=OPEN_MS)
    expect(page.get_by_role("heading", level=1).first).to_have_text("Optimizer race", timeout=OPEN_MS)

    page.locator('[data-testid="stSidebarNav"] a', has_text="Home").click()
    wait_rendered(page)
    page.get_by_role("link", name="Open Build & train").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/build_and_train(\?|$)"), timeout=OPEN_MS)
    expect(page.get_by_role("heading", level=1).first).to_have_text("Build & train", timeout=OPEN_MS)
    assert len(sockets) == 1, "a page was loaded afresh instead of opened by the app's navigation"
    assert not watch.problems(), watch.problems()
