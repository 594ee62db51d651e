"""A live 2-D playground on a page (toy.Playground and its kinds): the student's own one kept across reruns and
reloads, Play, Pause, Step and Reset, and the fragment that redraws it while it plays. The 2-D playground and GAN lab
both use it, each under its own prefix for session keys.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dlcore import toy
from ui.classroom import ANONYMOUS, session_owner

TICK_SECONDS = 0.06  # the pictures are asked for 16 times a second while playing: 10 arrive on a quiet machine (a
# tick that finds the last one still waiting is folded into it, so a busy server is asked less), at least 4 on a busy one
LEASE_SECONDS = 1.0  # each redraw keeps the network training this much longer: a closed tab stops it soon after


def this_tab_open() -> Callable[[], bool]:
    """Whether this browser tab is still connected, for the network's thread to ask: Streamlit has no hook for a
    session's end, and its runtime answers this from any thread. AppTest runs a page without a server: always open."""
    if not runtime.exists():
        return lambda: True
    server, session = runtime.get_instance(), get_script_run_ctx().session_id
    return lambda: server.is_active_session(session)


def _owner(prefix: str) -> str:
    return f"{prefix}:{session_owner()}"  # a browser keeps one of each kind


def current(prefix: str, config, make: Callable) -> toy.Playground:
    """This session's playground; a changed setting starts a fresh one at once, paused. A reloaded page (the same
    browser's identity, the same settings from its address) finds the one it had, at the epoch it reached."""
    state = st.session_state
    ground = state.get(f"{prefix}_playground")
    if ground is not None and ground.closed:  # Reset in another tab of the same browser: take up its network
        ground = None
    if ground is None and session_owner() != ANONYMOUS and (ground := toy.kept(_owner(prefix), config)):
        ground.attend(this_tab_open())
        state.update({f"{prefix}_playground": ground, f"{prefix}_playing": False})
    if ground is None or ground.config != config:
        if ground is not None:
            ground.close()
            state.pop(f"{prefix}_link_note", None)  # the link's refusal is kept until the settings change
        ground = _fresh(prefix, config, make)
    return ground


def _fresh(prefix: str, config, make: Callable) -> toy.Playground:
    """Sessions without an identity share one owner, so theirs are not kept for one another."""
    ground = make(config, present=this_tab_open())
    st.session_state.update({f"{prefix}_playground": ground, f"{prefix}_playing": False})
    if session_owner() != ANONYMOUS:
        toy.keep(_owner(prefix), ground)
    return ground


def playing(prefix: str, ground: toy.Playground) -> bool:
    return st.session_state.get(f"{prefix}_playing", False) and not ground.finished


def reset(prefix: str, ground: toy.Playground, make: Callable) -> None:
    """Fresh weights for the playground the button was drawn for; a click Streamlit replays finds it gone already."""
    if st.session_state.get(f"{prefix}_playground") is not ground:
        return
    ground.close()
    _fresh(prefix, ground.config, make)


def set_playing(prefix: str, ground: toy.Playground, play: bool) -> None:
    """Play or Pause as the button said, not a toggle: a fragment rerun that calls st.rerun() replays the click's
    callback, and a toggle run twice undid the Pause (CI: the network played on)."""
    st.session_state[f"{prefix}_playing"] = play
    if not play:
        ground.pause()  # so the page shows where it stopped, and Step goes on from there


def controls_ui(prefix: str, ground: toy.Playground, now_playing: bool, make: Callable, step_help: str) -> None:
    """Play or Pause, Step and Reset. Play and Pause are two keys, not one: a click replayed by a rerun that was cut
    short (a redraw's tick came in) fires the callback its key has now, and under one key a replayed Pause pressed
    Play (CI: it played on)."""
    play, step, again, _ = st.columns([1, 1, 1, 4])
    play.button("Pause" if now_playing else "Play", icon=":material/pause:" if now_playing else ":material/play_arrow:",
                type="primary", width="stretch", disabled=ground.finished,
                key=f"{prefix}_pause" if now_playing else f"{prefix}_play", on_click=set_playing,
                args=(prefix, ground, not now_playing))
    step.button("Step", icon=":material/skip_next:", width="stretch", disabled=now_playing or ground.finished,
                key=f"{prefix}_step", help=step_help, on_click=ground.step)
    again.button("Reset", icon=":material/restart_alt:", width="stretch", on_click=reset, args=(prefix, ground, make),
                 key=f"{prefix}_reset", help="Fresh weights, the same points.")


def run(prefix: str, ground: toy.Playground, body: Callable[[toy.Playground, bool], None],
        changed: Callable[[], bool] = lambda: False) -> None:
    """Draw `body(ground, playing)` in a fragment that reruns every TICK_SECONDS while playing, so a click in it is
    that fragment's own rerun, queued after the redraw in flight. A rerun that finds Play or Pause changed, the
    playground Reset, or `changed()`, redraws the whole page, so the redraws start or stop and a fresh one is made;
    that st.rerun() replays the click's callback, which is why every callback here does the same twice as once."""
    was_playing = playing(prefix, ground)

    def live() -> None:
        if (playing(prefix, ground) != was_playing or st.session_state.get(f"{prefix}_playground") is not ground
                or changed()):
            st.rerun()
        body(ground, was_playing)

    st.fragment(run_every=TICK_SECONDS if was_playing else None)(live)()


def latest(ground: toy.Playground, now_playing: bool):
    """The picture to draw: while playing, the newest, with the lease renewed; else the one it stopped at."""
    return ground.play(LEASE_SECONDS) if now_playing else ground.latest()
