"""Classroom tools: presenter mode for a projector, who may pause and stop a run (its browser, or the teacher),
runs taken home or brought in (export, import), and a page's setup kept in its address as a link."""

from __future__ import annotations

import os

import streamlit as st

from dlcore import DLCoreError, identity, sharing
from ui import literal

PRESENTER_CSS = """<style>
[class*="st-key-settings_"] { display: none !important; }
.stMainBlockContainer { max-width: 100%; padding-top: 3rem; }
.stMainBlockContainer p, .stMainBlockContainer li, .stMainBlockContainer label,
.stMainBlockContainer [data-testid="stTable"] th, .stMainBlockContainer [data-testid="stTable"] td {
    font-size: 1.35rem !important; }
.stMainBlockContainer [data-testid="stMetricValue"], .stMainBlockContainer [data-testid="stMetricValue"] * {
    font-size: clamp(2rem, 2.6vw, 3.6rem) !important; font-weight: 700; line-height: 1.2; }
.stMainBlockContainer [data-testid="stMetricLabel"] *, .stMainBlockContainer [data-testid="stMetricDelta"] * {
    font-size: 1.5rem !important; }
.stMainBlockContainer [data-testid="stProgress"] p { font-size: 1.6rem !important; }
.stMainBlockContainer h1 { font-size: 3.2rem !important; }
.stMainBlockContainer [data-testid="stBaseButton-tertiary"]:has([data-testid="stIconMaterial"]) {
    min-width: 2.8rem; min-height: 2.8rem; }
.stMainBlockContainer [data-testid="stBaseButton-tertiary"] [data-testid="stIconMaterial"] {
    font-size: 2rem !important; }
</style>"""


# Scrolls the page to a container by its key once it is drawn, and again as what is above it settles (a page
# streams its elements in one by one), for 15 s or until the reader scrolls. The number makes each request a new
# element, so two in a row both scroll.
SCROLL_SCRIPT = """<script>
(() => {
  const asked = Date.now(), request = %(number)d;
  let moved = false;  // the reader scrolled: from then on the page is theirs
  for (const kind of ["wheel", "touchmove", "keydown", "mousedown"])
    window.addEventListener(kind, () => { moved = true; }, {once: true, capture: true});
  const keep = () => {  // what streams in above it (tables, charts) pushes it down: align it again until it settles
    const target = document.querySelector(".st-key-%(key)s");
    if (moved || Date.now() - asked > 15000) return;
    if (target) {
      target.style.scrollMarginTop = "4rem";  // clear of Streamlit's header bar, which overlays the page's top
      const top = target.getBoundingClientRect().top;
      if (Math.abs(top - 64) > 16) target.scrollIntoView({block: "start"});
    }
    setTimeout(keep, 250);
  };
  keep();
})();
</script>"""


def opened_page(url_path: str) -> None:
    """app.py tells which page this run draws, so a page knows whether it was just opened (or reloaded) or is
    rerunning after a click."""
    st.session_state["page_opened"] = st.session_state.get("page_shown") != url_path
    st.session_state["page_shown"] = url_path


def page_opened() -> bool:
    return st.session_state.get("page_opened", True)


def bring_into_view(key: str) -> None:
    """Scroll to the container keyed `key`: after Start, and on opening a page with something live, what it started
    is what the screen shows (it used to run below the fold with the view unchanged)."""
    number = st.session_state["scroll_requests"] = st.session_state.get("scroll_requests", 0) + 1
    st.html(SCROLL_SCRIPT % {"key": key, "number": number}, unsafe_allow_javascript=True)


def setup_query() -> dict[str, str]:
    """The address's setup: every key but those any page carries (presenter mode, the name, the watched run)."""
    return {key: value for key, value in st.query_params.to_dict().items() if key not in sharing.EVERY_PAGE}


def new_link(prefix: str, fields, from_link):
    """A link's settings, read once per link (from_link(query)); None when there is none, it was read already, or it
    cannot be used at all, which the page's note (session key `{prefix}_link_note`) then says. The caller sets the
    widgets from it, then the note with note_on_link()."""
    query = setup_query()
    if not query or query == st.session_state.get(f"{prefix}_link"):
        return None
    st.session_state[f"{prefix}_link"] = query
    try:
        return from_link(sharing.canonical(query))
    except DLCoreError as exc:
        st.session_state[f"{prefix}_link_note"] = " ".join(
            filter(None, (f"This link's settings were not used: {exc}", sharing.unused_keys_note(query, fields))))
        return None


def linked(key: str, default):
    """A widget's value to make it with: the one a link put in the session state, else the default. A widget in a
    popover is first drawn in the browser when the popover opens; drawn after a few reruns it started from the value
    it was made with, not the link's, and sent that back (a link's 8-8 network became 4-2 once Play was pressed)."""
    return st.session_state.get(key, default)


def nearest(options, value):
    """The offered value nearest a link's: what a slider or a list of choices takes in its place."""
    return min(options, key=lambda option: abs(option - value))


def note_on_link(prefix: str, fields, notes: list[str]) -> None:
    """Keep the page's note on the link it opened: what was changed to fit the widgets, then the keys it ignored."""
    st.session_state[f"{prefix}_link_note"] = " ".join(notes + [sharing.unused_keys_note(setup_query(), fields)]).strip()


def keep_setup_in_address(query: dict[str, str]) -> None:
    """Make the address's setup `query`, so the page's address is a link to what it shows; also on coming back to
    the page, whose address Streamlit's navigation left bare."""
    shown = setup_query()
    if query != shown:
        for key in shown:
            if key not in query:
                st.query_params.pop(key, None)
        st.query_params.update(query)


def presenter_mode_ui() -> None:
    """The sidebar's presenter-mode toggle, kept in step with ?present=1 so a link opens a page ready for a projector.

    app.py calls it for every page: a link's present=1 or present=0 wins; a page change that drops the query
    keeps the mode and writes it back, so a reload stays in it.
    """
    query = st.query_params.get("present")
    if query is not None:
        st.session_state["presenting"] = query == "1"
    elif st.session_state.get("presenting"):
        st.query_params["present"] = "1"
    st.sidebar.toggle("Presenter mode", key="presenting", on_change=_present_in_url,
                      help="Hides the settings and enlarges text, numbers and charts for a projector. "
                           "Add ?present=1 to a page's address to open it this way.")
    if presenting():
        st.html(PRESENTER_CSS)


def _present_in_url() -> None:
    if st.session_state["presenting"]:
        st.query_params["present"] = "1"
    else:
        st.query_params.pop("present", None)


def student_name_ui() -> None:
    """The student's name from the address (?name=), where remember_name() keeps it, so reloads and page changes keep
    it and later runs and race lanes carry it. app.py calls it for every page; the address is untrusted text, so it
    is cleaned as runs store names, and written back cleaned."""
    from dlcore.config import student_name

    query = st.query_params.get("name")
    if query is not None:
        remember_name(student_name(query))
    elif st.session_state.get("student_name"):
        st.query_params["name"] = st.session_state["student_name"]


def remember_name(name: str) -> None:
    """Keep a (cleaned) name for this browser: in the session and in the address; an empty name leaves both."""
    st.session_state["student_name"] = name
    if name:
        if st.query_params.get("name") != name:
            st.query_params["name"] = name
    else:
        st.query_params.pop("name", None)


def presenting() -> bool:
    """The toggle's state; before the toggle is drawn (a page run on its own), what the link asks for."""
    if "presenting" in st.session_state:
        return bool(st.session_state["presenting"])
    return st.query_params.get("present") == "1"


def settings_container(name: str):
    """A container for settings, which presenter mode hides (by its key's CSS class)."""
    return st.container(key=f"settings_{name}")


# ---- who may pause and stop a run: the browser that started it, or the teacher ------------------------

TEACHER_KEY = "DLCORE_TEACHER_KEY"
IDENTITY_MAX_AGE = 400 * 24 * 3600  # the longest a browser keeps a cookie: a school year and then some
ANONYMOUS = "anonymous"  # every session without a valid identity: together they get one student's share
# Sets the identity the server issued, then reloads once so the next connection presents it. The reload happens
# only if the cookie was kept (blocked cookies mean no reload) and at most once in ten minutes per tab (a cookie
# kept but never sent back, by a proxy or a changed secret, must not loop).
IDENTITY_SCRIPT = """<script>
(() => {
  const cookie = "%(name)s=%(token)s", tried = "dlcore-identity-reload";
  document.cookie = cookie + "; Path=/; Max-Age=%(max_age)d; SameSite=Strict";
  const kept = document.cookie.split("; ").includes(cookie);
  if (kept && Date.now() - Number(sessionStorage.getItem(tried) || 0) > 600000) {
    sessionStorage.setItem(tried, String(Date.now()));
    window.location.reload();
  }
})();
</script>"""


def session_owner() -> str:
    """Who starts a run or race here, for pausing and stopping it and for a fair share of the queue.

    A browser is named by the identity the server signed into its cookie, sent on every load and never put in an
    address: a reload or a second tab keeps control, a shared link gives none. Without a valid one (a first visit
    before its reload, cookies blocked, a client that made its own up) the session is ANONYMOUS, shared by all such.
    """
    if "session_owner" not in st.session_state:
        browser = identity.verify(_identity_cookie())
        st.session_state["session_owner"] = f"browser-{browser}" if browser else ANONYMOUS
    return st.session_state["session_owner"]


def _identity_cookie() -> object:
    """The cookie as this session's connection sent it: untrusted, maybe missing."""
    return st.context.cookies.get(identity.COOKIE)


def identity_ui() -> None:
    """Give a browser without a valid identity one: app.py calls it for every page. One token per session, so a
    rerun does not replace the cookie that the reload is about to present."""
    if session_owner() != ANONYMOUS:
        return
    token = st.session_state.setdefault("identity_token", identity.issue())
    st.html(IDENTITY_SCRIPT % {"name": identity.COOKIE, "token": token, "max_age": IDENTITY_MAX_AGE},
            unsafe_allow_javascript=True)


def refusal(exc: Exception) -> str:
    """A refused start's sentence; a browser without an identity shares one student's place with every such
    browser, so it is told how to get its own."""
    if session_owner() != ANONYMOUS:
        return str(exc)
    return f"{exc} This browser has no identity from the server yet: reload the page, with cookies allowed."


def is_teacher() -> bool:
    """Whether this session has entered the teacher key (DLCORE_TEACHER_KEY) in the sidebar."""
    return bool(os.environ.get(TEACHER_KEY)) and st.session_state.get("teacher_session", False)


def teacher_ui() -> None:
    """The sidebar's teacher key, shown when the server has one: a teacher may pause and stop anyone's run or race."""
    if not os.environ.get(TEACHER_KEY):
        return
    with st.sidebar:
        if is_teacher():
            st.caption("Teacher: you can pause and stop every run and race.")
            st.button("Leave teacher mode", icon=":material/logout:", key="teacher_leave", on_click=_leave_teacher_mode)
            return
        st.text_input("Teacher key", type="password", key="teacher_key", on_change=_check_teacher_key,
                      help="Lets this browser session pause and stop any student's run or race.")
        if problem := st.session_state.pop("teacher_problem", None):
            st.caption(literal(problem))


def _check_teacher_key() -> None:
    """The key is compared in constant time and not kept (the field is emptied either way); wrong guesses slow
    every session's next check (dlcore.identity), so many tabs guess no faster than one."""
    entered, key = st.session_state["teacher_key"], os.environ.get(TEACHER_KEY, "")
    st.session_state["teacher_key"] = ""
    matches = bool(entered) and identity.check_teacher_key(entered, key)
    st.session_state["teacher_session"] = matches
    if entered and not matches:
        st.session_state["teacher_problem"] = "That is not the teacher key."


def _leave_teacher_mode() -> None:
    st.session_state["teacher_session"] = False


def may_control(manager, number: int) -> bool:
    """Whether this session may pause or stop the manager's run or race: its browser sent it, or the teacher.
    Sessions without an identity share one owner, so none of them controls that owner's work; a reload names them."""
    return is_teacher() or (session_owner() != ANONYMOUS and manager.controls(number, session_owner()))


def control(action, number: int) -> None:
    """A control button's callback: pause, resume or stop as this session, a refusal kept to be shown."""
    from dlcore import DLCoreError

    try:
        action(number, session_owner(), is_teacher())
    except DLCoreError as exc:
        st.session_state["control_problem"] = str(exc)


def control_problem_ui() -> None:
    """The sentence a refused control left (not the owner, or a full queue), shown once."""
    if problem := st.session_state.pop("control_problem", None):
        st.error(literal(problem), icon=":material/block:")


# ---- runs taken home and brought in -----------------------------------------------------------------

def export_button_ui(run, label: str = "Download weights and script") -> None:
    """The run's zip: safetensors weights, its config, and a standalone PyTorch script that rebuilds, evaluates and
    retrains it."""
    from dlcore import DLCoreError, export

    try:
        export.check_exportable(run)
    except DLCoreError as exc:
        st.caption(literal(exc))
        return
    name = export.bundle_name(run)
    st.download_button(label, lambda: export.bundle(run)[1], file_name=name, mime="application/zip",
                       icon=":material/download:", key=f"export_{run.id}", on_click="ignore",
                       help=f"{name}: the weights (.safetensors), the config (.json) and a script that needs only "
                            "torch and torchvision: `python run-N.py evaluate` scores the weights, `python run-N.py train` trains the same setup again.")


def _name_typed(name_key: str) -> None:
    """A name typed in an import box is the student's name from then on, as one typed in Build & train."""
    from dlcore.config import student_name

    remember_name(student_name(st.session_state[name_key]))


def import_notice(key: str) -> tuple[str, str] | None:
    """What the last import under this key came to, ("success" or "error", sentence), until dismissed: a page opens
    the import's expander while there is one, since a redraw of the page above it closes the expander."""
    return st.session_state.get(f"{key}_notice")


def import_ui(key: str) -> int | None:
    """Upload weights trained elsewhere; they are checked, scored and saved as a run. Returns its id once imported.

    What came of it stays in the session until dismissed: a page that reruns (the run board redraws when a run
    appears, Draw & classify picks the new model) would otherwise wipe the sentence a moment after it appeared.
    """
    from dlcore import DLCoreError, export
    from dlcore.config import MAX_NAME_CHARS

    name_key = f"{key}_student"
    st.session_state[name_key] = st.session_state.get("student_name", "")  # the name given anywhere, Build & train too
    st.text_input("Your name (optional, shown with the imported run; kept in the address)", key=name_key,
                  max_chars=MAX_NAME_CHARS, on_change=_name_typed, args=(name_key,))
    weights = st.file_uploader("Weights: a .safetensors file, or a .zip exported from a playground", key=f"{key}_weights")
    config = st.file_uploader("Its config (.json), if the weights file does not carry one", type=["json"],
                              key=f"{key}_config")
    run_id = None
    if st.button("Import", icon=":material/upload:", disabled=weights is None, key=f"{key}_go"):
        name = st.session_state.get("student_name", "")
        try:
            run_id = export.import_weights(weights.getvalue(), weights.name, config.getvalue() if config else None,
                                           name, owner=session_owner(), teacher=is_teacher())
            st.session_state[f"{key}_notice"] = (
                "success", f"Imported as run #{run_id}{f' by {name}' if name else ''}: pick it as the model in Draw & "
                           "classify, or find it on the run board.")
        except DLCoreError as exc:
            st.session_state[f"{key}_notice"] = ("error", str(exc))
    if notice := import_notice(key):
        kind, text = notice
        box, dismiss = st.columns([6, 1], vertical_alignment="center")
        if kind == "success":
            box.success(literal(text), icon=":material/check_circle:")
        else:
            box.error(literal(text), icon=":material/block:")
        dismiss.button("Dismiss", key=f"{key}_dismiss", on_click=st.session_state.pop, args=(f"{key}_notice",))
    return run_id
