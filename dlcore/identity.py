"""Who a browser is, as the server says: identities signed with a secret only the server holds, so a client cannot
invent one; and the teacher key's wrong guesses slowed for the whole server, however many sessions make them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .config import DLCoreError, home

COOKIE = "dlcore_id"  # where a browser keeps its identity
SECRET_ENV = "DLCORE_SECRET"
SECRET_FILE = "identity-secret"  # under the runs home, mode 0600: identities outlive a restart
TOKEN = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})")  # 16 random bytes . HMAC-SHA256, base64url unpadded
MAX_TOKEN = 80  # anything longer is junk: it is not even parsed

_log = logging.getLogger(__name__)
_SECRETS: dict[tuple[str, str], bytes] = {}
_SECRETS_LOCK = threading.Lock()


def secret(folder: Path | None = None) -> bytes:
    """The server's signing secret: $DLCORE_SECRET, else 32 random bytes made once and kept in the runs home.

    The file is created exclusively, so two processes starting at once (a server and a script minting an
    identity for it) agree on one secret.
    """
    configured = os.environ.get(SECRET_ENV, "")
    try:
        path = Path(folder or home()) / SECRET_FILE
    except DLCoreError:  # no home folder at all: the store says so; identities need not fail with it
        path = None
    key = (configured, str(path))
    with _SECRETS_LOCK:
        if key not in _SECRETS:
            _SECRETS[key] = configured.encode() if configured else _kept_secret(path)
        return _SECRETS[key]


def _kept_secret(path: Path | None) -> bytes:
    """The secret in the file, made there if missing; a file that cannot be kept or read gives a secret for this
    process alone (identities then last until a restart), since every page checks identities before any run."""
    problem = "there is no runs home"
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            kept = path.read_bytes()
            if len(kept) >= 32:
                return kept
            problem = f"{path} holds no usable secret (delete it)"
        except OSError as exc:
            problem = f"{path} cannot be written ({exc.strerror})"
        else:
            made = secrets.token_bytes(32)
            with os.fdopen(descriptor, "wb") as file:
                file.write(made)
            return made
    _log.warning("Browsers' identities last until this server restarts: %s; set %s to keep them.", problem, SECRET_ENV)
    return secrets.token_bytes(32)


def issue(key: bytes | None = None) -> str:
    """A new identity, signed: "<id>.<signature>", safe in a cookie as it is."""
    name = _b64(secrets.token_bytes(16))
    return f"{name}.{_signature(name, key or secret())}"


def verify(token: object, key: bytes | None = None) -> str | None:
    """The identity a token names when the server signed it; None for anything else (missing, cut, forged, junk)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN or not (match := TOKEN.fullmatch(token)):
        return None
    name, signature = match.groups()
    expected = _signature(name, key or secret())
    return name if hmac.compare_digest(expected.encode(), signature.encode()) else None


def _signature(name: str, key: bytes) -> str:
    return _b64(hmac.new(key, b"dlcore-identity:" + name.encode(), hashlib.sha256).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Throttle:
    """Wrong guesses make every later check wait, whichever session asks: one lock for the process, held while
    waiting, so guesses from many sessions at once queue behind each other instead of running in parallel.

    After a wrong guess the next check waits `first` seconds from it, doubling with each wrong guess that follows
    within `quiet` seconds of the last, up to `most`; a right key ends the streak.
    """

    def __init__(self, first: float = 1.0, most: float = 30.0, quiet: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.first, self.most, self.quiet = first, most, quiet
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._failures = 0
        self._last_failure = float("-inf")

    def check(self, entered: str, key: str) -> bool:
        """Whether entered is the key, compared in constant time (as digests, so not even the length shows)."""
        with self._lock:
            if self._failures:
                self._sleep(max(0.0, self._last_failure + self.delay() - self._clock()))
            matches = bool(key) and hmac.compare_digest(hashlib.sha256(entered.encode()).digest(),
                                                        hashlib.sha256(key.encode()).digest())
            now = self._clock()
            if matches:
                self._failures = 0
            else:
                self._failures = 1 if now - self._last_failure > self.quiet else self._failures + 1
                self._last_failure = now
            return matches

    def delay(self) -> float:
        """How long after the last wrong guess the next check must wait."""
        return min(self.most, self.first * 2 ** (self._failures - 1)) if self._failures else 0.0


TEACHER_KEY_GUESSES = Throttle()


def check_teacher_key(entered: str, key: str) -> bool:
    """The teacher key check every session shares, so 30 tabs guess no faster than one."""
    return TEACHER_KEY_GUESSES.check(entered, key)
