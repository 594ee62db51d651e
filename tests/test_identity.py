"""dlcore.identity: tokens only the server can sign, its secret kept where runs live, teacher-key guesses throttled."""

from __future__ import annotations

import stat
import threading
import time

import pytest

from dlcore import identity

KEY = b"k" * 32


def test_an_issued_token_names_one_identity_and_a_new_one_another():
    first, second = identity.issue(KEY), identity.issue(KEY)
    assert identity.verify(first, KEY) == first.split(".")[0] != identity.verify(second, KEY)


@pytest.mark.parametrize("forge", [
    lambda token: token[:-1],  # truncated
    lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature changed
    lambda token: ("B" if token[0] != "B" else "C") + token[1:],  # identity changed, signature kept
    lambda token: token.split(".")[0],  # no signature
    lambda token: token + "=",  # padding
    lambda token: token.replace(".", ".."),
    lambda token: " " + token,
    lambda token: token.split(".")[0] + "." + "A" * 43,  # a made-up signature of the right shape
])
def test_a_forged_or_damaged_token_is_refused(forge):
    assert identity.verify(forge(identity.issue(KEY)), KEY) is None


def test_a_token_signed_with_another_secret_is_refused():
    assert identity.verify(identity.issue(b"o" * 32), KEY) is None


@pytest.mark.parametrize("junk", [None, "", ".", "x" * 10_000, "é" * 66, "\x00" * 66, 12, b"bytes", ["a"], "a.b"])
def test_junk_is_refused_without_raising(junk):
    assert identity.verify(junk, KEY) is None


def test_the_secret_is_made_once_kept_private_and_outlives_a_restart(dlcore_home):
    made = identity.secret()
    path = dlcore_home / identity.SECRET_FILE
    assert len(made) == 32 and path.read_bytes() == made
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    identity._SECRETS.clear()  # a restarted server reads it back
    assert identity.secret() == made
    assert identity.verify(identity.issue()) is not None


def test_dlcore_secret_overrides_the_kept_one(monkeypatch, dlcore_home):
    kept = identity.issue()
    monkeypatch.setenv(identity.SECRET_ENV, "a long secret the teacher chose")
    assert identity.verify(kept) is None and identity.verify(identity.issue()) is not None
    assert identity.verify(identity.issue(b"a long secret the teacher chose")) is not None


def test_a_secret_that_cannot_be_kept_lasts_until_a_restart_and_says_why_in_the_log(dlcore_home, caplog):
    dlcore_home.mkdir(parents=True)
    (dlcore_home / identity.SECRET_FILE).write_bytes(b"short")
    assert identity.verify(identity.issue()) is not None
    assert "holds no usable secret (delete it)" in caplog.text


def test_a_runs_home_that_cannot_be_written_still_signs_identities(tmp_path, monkeypatch, caplog):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DLCORE_HOME", str(tmp_path / "a-file" / "dlcore"))
    assert identity.verify(identity.issue()) is not None
    assert "cannot be written (Not a directory)" in caplog.text


def test_wrong_teacher_keys_from_many_threads_wait_for_each_other_and_a_right_one_still_works():
    throttle = identity.Throttle(first=0.1, most=0.2)
    answers = []
    began = time.monotonic()
    threads = [threading.Thread(target=lambda: answers.append(throttle.check("guess", "chalk-and-talk")))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # waits after each wrong guess but the last: 0.1, then 0.2 (the most) four times
    assert time.monotonic() - began >= 0.9 and answers == [False] * 6
    began = time.monotonic()
    assert throttle.check("chalk-and-talk", "chalk-and-talk")
    assert time.monotonic() - began >= 0.15  # it waited its turn too
    began = time.monotonic()
    assert throttle.check("chalk-and-talk", "chalk-and-talk") and time.monotonic() - began < 0.05  # streak over


def test_the_wait_doubles_while_wrong_guesses_continue_and_ends_after_a_quiet_spell():
    now = [0.0]
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        now[0] += seconds

    throttle = identity.Throttle(first=1, most=30, quiet=300, clock=lambda: now[0], sleep=sleep)
    for _ in range(7):
        throttle.check("guess", "key")
    assert waits == [1, 2, 4, 8, 16, 30] and throttle.delay() == 30
    now[0] += 400  # five quiet minutes and more
    throttle.check("guess", "key")
    assert waits[-1] == 0 and throttle.delay() == 1


def test_no_key_on_the_server_matches_nothing():
    assert not identity.Throttle(first=0).check("", "")
