"""A first visit in Chromium: the page sets the identity the server signed and reloads once to present it; blocked
cookies, or a cookie that never reaches the server, cost no reload loop."""

from __future__ import annotations

import time

import pytest

from dlcore import identity
from tests.e2e.harness import SECRET, new_page, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Stands in for a browser that blocks the site's cookies (kept = false) or keeps them in the page but never sends
# them (kept = true: a proxy that strips them); Streamlit's own cookies are left alone.
COOKIE_JAR = """(() => {
  const real = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  let mine = "";
  Object.defineProperty(document, "cookie", {configurable: true,
    get() { const jar = real.get.call(document); return mine ? (jar ? jar + "; " : "") + mine : jar; },
    set(value) {
      if (!value.startsWith("%(name)s=")) real.set.call(document, value);
      else if (%(kept)s) mine = value.split(";")[0];
    }});
})();"""


def opened(browser, url: str, jar: str | None = None):
    """A browser that never visited, on the home page; returns the page, its watch and the loads it went through."""
    page, watch = new_page(browser, url, named=False)
    if jar is not None:
        page.add_init_script(COOKIE_JAR % {"name": identity.COOKIE, "kept": jar})
    loads = []
    page.on("load", lambda _: loads.append(time.monotonic()))
    page.goto(url)
    return page, watch, loads


def settled(page, loads: list, count: int) -> None:
    """Wait for the count-th document load and its page to be drawn, then long enough for any further reload."""
    deadline = time.monotonic() + 60
    while len(loads) < count:
        assert time.monotonic() < deadline, f"{len(loads)} loads"
        page.wait_for_timeout(100)
    wait_rendered(page)
    page.wait_for_timeout(3000)


def test_a_first_visit_gets_a_signed_identity_and_reloads_once_to_present_it(browser, app_server):
    page, watch, loads = opened(browser, app_server.url)
    settled(page, loads, 2)
    [cookie] = [c for c in page.context.cookies() if c["name"] == identity.COOKIE]
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/" and cookie["expires"] > time.time() + 300 * 86400
    assert identity.verify(cookie["value"], SECRET.encode()) is not None  # the server's (the harness sets it)
    page.reload()  # a browser the server named: nothing to set, nothing to reload
    settled(page, loads, 3)
    assert len(loads) == 3 and [c["value"] for c in page.context.cookies() if c["name"] == identity.COOKIE] == [
        cookie["value"]]
    problems = watch.problems()
    page.context.close()
    assert not problems, problems


@pytest.mark.parametrize("kept, reloads", [("false", 0), ("true", 1)], ids=["blocked", "never-sent"])
def test_a_cookie_the_server_never_gets_costs_at_most_one_reload(browser, app_server, kept, reloads):
    page, watch, loads = opened(browser, app_server.url, jar=kept)
    settled(page, loads, 1 + reloads)
    page.wait_for_timeout(3000)
    assert len(loads) == 1 + reloads
    problems = watch.problems()
    page.context.close()
    assert not problems, problems
