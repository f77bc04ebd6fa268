"""Redlines: a text diff as a list of operations, word-level for English and character-level
for Chinese (pure functions, no ORM).

``text_diff(a, b)`` gives ``[{"op": "equal"|"delete"|"insert", "text": ...}]``; joining the
``equal`` and ``delete`` texts gives ``a`` back, the ``equal`` and ``insert`` texts give ``b``.
"""

from __future__ import annotations

import difflib
import re

# One token per CJK character (Chinese has no spaces between words, and a two-character word
# such as 登录 is the norm), otherwise runs of word characters, runs of spaces, or a single
# punctuation mark. Mixed text ("支持 SMS 验证码") tokenises each part its own way.
_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
)
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|\s+|.", re.S)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def text_diff(a: str, b: str) -> list[dict[str, str]]:
    """The operations that turn ``a`` into ``b``; consecutive operations of a kind merged."""
    left, right = tokens(a or ""), tokens(b or "")
    ops: list[dict[str, str]] = []

    def emit(op: str, parts: list[str]) -> None:
        text = "".join(parts)
        if not text:
            return
        if ops and ops[-1]["op"] == op:
            ops[-1]["text"] += text
        else:
            ops.append({"op": op, "text": text})

    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            emit("equal", left[i1:i2])
        else:
            emit("delete", left[i1:i2])
            emit("insert", right[j1:j2])
    return ops


def apply_diff(ops: list[dict[str, str]]) -> tuple[str, str]:
    """(old, new) texts a diff was made from."""
    old = "".join(o["text"] for o in ops if o["op"] in ("equal", "delete"))
    new = "".join(o["text"] for o in ops if o["op"] in ("equal", "insert"))
    return old, new


def patch(a: str, ops: list[dict[str, str]]) -> str:
    """Apply the operations of ``text_diff(a, b)`` to ``a`` and get ``b``.

    Checks that the ``equal`` and ``delete`` parts are, in order, exactly ``a`` (a redline made
    against another text is refused with ``ValueError`` rather than applied half-way).
    """
    out: list[str] = []
    at = 0
    for o in ops:
        text = o["text"]
        if o["op"] in ("equal", "delete"):
            if a[at : at + len(text)] != text:
                raise ValueError(f"the diff does not fit the text at offset {at}")
            at += len(text)
            if o["op"] == "equal":
                out.append(text)
        elif o["op"] == "insert":
            out.append(text)
        else:
            raise ValueError(f"unknown diff operation {o['op']!r}")
    if at != len(a):
        raise ValueError("the diff does not cover the whole text")
    return "".join(out)
