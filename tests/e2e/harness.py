"""A real `streamlit run app.py` server and headless Chromium pages that watch for errors.

Shared by the e2e tests (through conftest.py) and by bench/load.py, so both drive the app the same way.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dlcore import identity

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}
# A classroom server is offline: anything not served by the app itself (the material-icon favicon Streamlit
# fetches from fonts.gstatic.com) is refused at once instead of waiting on DNS, the same in CI and here.
EXTERNAL = re.compile(r"^(?!https?://(localhost|127\.0\.0\.1)[:/]).+")
# Opened at a page's own URL, Streamlit's frontend first probes <page>/_stcore/health and host-config to find its
# base path; the 404s it logs are expected (streamlit/streamlit#7074), any other failed load is not.
BASE_PATH_PROBE = re.compile(r"^https?://[^/]+/[^_][^/]*/_stcore/(health|host-config)$")
EXCEPTION = '[data-testid="stException"]'
ALERT = '[data-testid="stAlert"]'
SCRIPT_DONE = '[data-test-script-state="notRunning"]'
CONNECTED = '[data-test-connection-state="CONNECTED"]'
# Every server started here signs identities with this secret, so a test's browser can arrive as one the server
# named before (new_page) and the protocol benchmark's teacher can hold an identity; test_identity.py tests a
# first visit, which gets its identity from the page and reloads once.
SECRET = secrets.token_urlsafe(32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`streamlit run app.py` in its own process group, with its own DLCORE_HOME; DLCORE_DATA_DIR passes through."""

    def __init__(self, home: Path, env: dict[str, str] | None = None, port: int | None = None,
                 script: str = "app.py", root: Path = REPO):
        self.home = Path(home)
        self.port = port or free_port()
        self.env = env or {}
        self.script = script
        self.root = root  # the checkout served: this one, or an older one a benchmark compares against
        self.log_path = self.home.parent / f"{self.home.name}-server.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self, timeout: float = 120) -> "AppServer":
        """Start and wait until /_stcore/health answers ok; the log says why if it never does."""
        env = {**os.environ, "DLCORE_HOME": str(self.home), "XDG_CACHE_HOME": str(self.home.parent / "cache"),
               "DLCORE_SECRET": SECRET, **self.env}
        self.home.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "streamlit", "run", self.script, "--server.port", str(self.port),
                   "--server.headless", "true", "--server.fileWatcherType", "none",
                   "--browser.gatherUsageStats", "false"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        """Ask politely (SIGTERM), then insist; only this server's own process group is signalled."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(15)

    def kill(self) -> None:
        """SIGKILL, as when the machine loses power or the OOM killer strikes: no cleanup runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def require_chromium() -> str:
    """The Chromium the tests drive; its absence is an error to fix, never a reason to skip."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does."
        )
    return CHROMIUM


class Watch:
    """Everything that counts as a browser-side failure on one page: console errors and uncaught page errors."""

    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        self.blocked: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _console(self, message) -> None:
        if message.type != "error":
            return
        source = (message.location or {}).get("url", "")
        if "Failed to load resource" in message.text and EXTERNAL.match(source):
            self.blocked.append(source)  # an offline server cannot fetch third-party files; not the app's error
            return
        if "404" in message.text and BASE_PATH_PROBE.match(source):
            return
        self.errors.append(f"console: {message.text[:500]} ({source})")

    def problems(self) -> list[str]:
        """Browser errors plus any Streamlit exception box on the page now."""
        found = list(self.errors)
        if not self.page.is_closed():
            for box in self.page.locator(EXCEPTION).all():
                found.append(f"exception box: {box.inner_text()[:500]}")
        return found


def browser_identity() -> str:
    """An identity signed as a server started here signs them: what a browser keeps after its first visit."""
    return identity.issue(SECRET.encode())


def new_page(browser, server_url: str, named: bool = True):
    """A fresh browser context (its own cookies: a new Streamlit session) with one watched page; named, it holds an
    identity of its own already, as a browser after its first visit, so the page does not reload under the test."""
    context = browser.new_context(viewport=VIEWPORT)
    context.route(EXTERNAL, lambda route: route.abort("blockedbyclient"))
    if named:
        context.add_cookies([{"name": identity.COOKIE, "value": browser_identity(), "url": server_url}])
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page, Watch(page)


def wait_rendered(page, timeout: float = 30_000) -> None:
    """Connected, a page title drawn and the script done; fragments that poll may run again right after."""
    page.wait_for_selector(CONNECTED, state="attached", timeout=timeout)
    page.get_by_role("heading", level=1).first.wait_for(timeout=timeout)
    page.wait_for_selector(SCRIPT_DONE, state="attached", timeout=timeout)


def screenshot(page, name: str) -> Path:
    """The whole page: Streamlit scrolls inside its main block, so the window is stretched to it for the shot."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height = page.evaluate(
        "() => Math.max(window.innerHeight, ...Array.from("
        "document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]'), e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(height, 8000)})
    try:
        page.wait_for_function("() => Array.from(document.images).every(image => image.complete)", timeout=10_000)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(VIEWPORT)
    return path
