"""Full-text search that works for Chinese and English on SQLite and PostgreSQL.

Neither engine segments Chinese, and SQLite's trigram tokenizer needs three characters, while
Chinese words are mostly two (登录, 审批). So text is tokenised here, in Python, the same way
for both engines:

- a run of CJK characters ``c1 c2 … cn`` becomes the bigrams ``c1c2 c2c3 … c(n-1)cn`` followed
  by the unigram ``cn``, so every character starts exactly one token;
- any other run of letters or digits becomes one lower-cased word.

A query's CJK run becomes a *phrase* of its bigrams (an exact substring match), a single CJK
character a prefix query, and a word a prefix query; all terms must match.

The index lives in one table per engine — an FTS5 table on SQLite, a ``tsvector`` column with
a GIN index on PostgreSQL — created by migration ``changes.0002``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import connection

MAX_TOKENS = 16_383  # PostgreSQL's largest tsvector position; used for both engines
# PostgreSQL refuses lexemes over 2047 bytes ("word is too long") in a tsvector and a tsquery,
# so a pasted blob failed the write or the search. Words are cut to this many characters when
# indexed and when searched (both engines alike): a longer word is found by its prefix.
MAX_WORD = 100
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN_RE = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")

TABLE = "changes_cr_search"


def _cjk_tokens(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]]


def tokenize(text: str) -> list[str]:
    """Index tokens of ``text`` in order (see the module docstring)."""
    tokens: list[str] = []
    for cjk, word in _TOKEN_RE.findall(text or ""):
        tokens.extend(_cjk_tokens(cjk) if cjk else [word.lower()[:MAX_WORD]])
        if len(tokens) >= MAX_TOKENS:
            return tokens[:MAX_TOKENS]
    return tokens


def query_terms(query: str) -> list[tuple[str, list[str]]]:
    """Split a user's query into terms: ("phrase", bigrams) or ("prefix", [token])."""
    terms: list[tuple[str, list[str]]] = []
    for cjk, word in _TOKEN_RE.findall(query or ""):
        if cjk and len(cjk) > 1:
            terms.append(("phrase", [cjk[i : i + 2] for i in range(len(cjk) - 1)]))
        else:
            terms.append(("prefix", [cjk or word.lower()[:MAX_WORD]]))
    return terms[:32]


def _fts5_query(terms: list[tuple[str, list[str]]]) -> str:
    parts = []
    for kind, tokens in terms:
        phrase = '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'
        parts.append(phrase + ("*" if kind == "prefix" else ""))
    return " AND ".join(parts)


def _tsquery_literal(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _pg_query(terms: list[tuple[str, list[str]]]) -> str:
    parts = []
    for kind, tokens in terms:
        if kind == "prefix":
            parts.append(_tsquery_literal(tokens[0]) + ":*")
        else:
            parts.append("(" + " <-> ".join(_tsquery_literal(t) for t in tokens) + ")")
    return " & ".join(parts)


def _pg_vector(tokens: Iterable[str]) -> str:
    positions: dict[str, list[int]] = {}
    for pos, token in enumerate(tokens, start=1):
        positions.setdefault(token, []).append(pos)
    return " ".join(
        f"{_tsquery_literal(t)}:{','.join(map(str, p[:256]))}" for t, p in positions.items()
    )


def index(row_id: int, text: str) -> None:
    """Replace the indexed text of row ``row_id`` (call inside the writer's transaction)."""
    tokens = tokenize(text)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                f"INSERT INTO {TABLE} (cr_id, doc) VALUES (%s, %s::tsvector) "  # noqa: S608
                "ON CONFLICT (cr_id) DO UPDATE SET doc = EXCLUDED.doc",
                [row_id, _pg_vector(tokens)],
            )
        else:
            cur.execute(f"DELETE FROM {TABLE} WHERE rowid = %s", [row_id])  # noqa: S608
            cur.execute(
                f"INSERT INTO {TABLE} (rowid, doc) VALUES (%s, %s)",  # noqa: S608
                [row_id, " ".join(tokens)],
            )


def matching_ids_sql(query: str) -> tuple[str, list[str]] | None:
    """SQL selecting the ids whose text matches ``query``; None when the query has no terms."""
    terms = query_terms(query)
    if not terms:
        return None
    if connection.vendor == "postgresql":
        return f"SELECT cr_id FROM {TABLE} WHERE doc @@ %s::tsquery", [_pg_query(terms)]  # noqa: S608
    return f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s", [_fts5_query(terms)]  # noqa: S608
