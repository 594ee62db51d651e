"""The Streamlit helpers that several pages share.

status: the engine's warm-up, the device and data in the sidebar and in choices; charts: pure figure builders;
runs: a run's results and its control; classroom: presenter mode, who controls a run, export and import;
pictures: the 2-D playground's and GAN lab's live images, pure drawing like charts; live: a live playground on a
page (kept across reloads, Play, Pause, Step, Reset, the redrawing fragment).
A helper that only one page uses lives in that page.
"""

from __future__ import annotations

import re

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=\"'&;/@^%?,])")


_AUTOLINK = re.compile(r"(\\:(?=\\/\\/)|www(?=\\\.)|\\@)", re.IGNORECASE)  # where Markdown would start a link by itself


def literal(text) -> str:
    """Text a user chose (a name, a file name, a link's value, a message quoting one) as it was typed.

    Streamlit draws captions, alerts, headers and metric deltas as Markdown, where a name such as
    ![x](http://host/p.png) would become an image on every student's screen: every ASCII punctuation mark is
    escaped, as CommonMark allows, line breaks become spaces, and addresses are kept from turning into links.
    """
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(str(text).split()))
    return _AUTOLINK.sub("\\1\u2060", escaped)  # an invisible word joiner: no live link to wherever a student says
