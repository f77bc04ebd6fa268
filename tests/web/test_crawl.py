"""A crawl of the whole web UI on the demo data, as each of the demo's people.

The demo (``changeflow demo``) is loaded once, inside the test's transaction, rolled back after
it like any test's data, so nothing leaks into other tests and under xdist one worker loads it.
Each demo user then starts at /projects/ and follows, breadth first, every same-site link the
pages offer them (``<a href>``, ``hx-get``, ``<img src>``, GET forms), with GET only. Every page
must answer without a server error, every link must lead somewhere the user may go (200, a
redirect, a file), every HTML page must be well-formed, refer only to ids it has, and be in the
user's language (half of them English, half Chinese: <html lang>, and no message of the
catalogue left in English), and no GET may write to the database.
"""

from __future__ import annotations

import re
import time
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import Resolver404, resolve
from django.utils import translation

from changeflow import demo
from changeflow.accounts.models import User
from changeflow.changes.models import ChangeRequest

# Half of the demo's people read the UI in English, half in Chinese.
USERS = [
    ("wang.lei", "en"),  # project manager
    ("chen.jing", "zh-hans"),  # tech lead
    ("zhao.min", "en"),  # developer
    ("liu.yang", "zh-hans"),  # QA
    ("li.na", "en"),  # customer representative
    ("zhou.jie", "zh-hans"),  # customer
    ("sun.yue", "en"),  # viewer
    ("admin", "zh-hans"),  # site admin
]
START = "/projects/"
# Never followed: signing out ends the crawl's session; the language switch is a POST form.
SKIP_PREFIXES = ("/signout/", "/i18n/")
# Of one path, at most this many query-string variants (?page=2, ?sort=…, filters) are fetched.
MAX_QUERY_VARIANTS = 2
# Pages of one kind (one URL name: the 40 change requests, the meetings' occurrences, the
# requirements): each user fetches the first FIRST_OF_A_KIND, then their own share of the rest,
# one in SAMPLE_STRIDE by a stable hash of the path, so that the eight users together fetch
# every one of them, each in the role of whoever drew it.
FIRST_OF_A_KIND = 2
SAMPLE_STRIDE = len(USERS)
MAX_PAGES = 1500  # per user: far above what the demo has, a guard against a crawl trap
OK = {200, 302}
LANGUAGES = django_settings.LANGUAGES
# Pages every member of the project reaches, whatever their role: a crawl that misses one of
# them went wrong (a login lost, a broken navigation).
EVERY_MEMBER_SEES = {
    "project-list", "project-detail", "cr-list", "cr-detail", "requirement-list",
    "requirement-detail", "artifact-list", "baseline-list", "matrix", "meeting-list",
    "meeting-occurrence", "project-calendar", "notification-inbox", "ccb-board",
    "ccb-supervision", "comms-log", "password-change",
}  # fmt: skip
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
# The session row that force_login writes and Django refreshes is not the page's doing.
SESSION_TABLE = re.compile(r'^\s*\w+\s+(INTO\s+|FROM\s+)?"?django_session"?', re.IGNORECASE)
VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip
# Elements whose end tag HTML lets one leave out.
OPTIONAL_END = {
    "html", "head", "body", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th",
    "thead", "tbody", "tfoot", "colgroup", "caption", "rp", "rt",
}  # fmt: skip


@dataclass
class Page:
    url: str
    status: int
    content_type: str
    referrer: str | None
    seconds: float


@dataclass
class Crawl:
    pages: list[Page] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)  # links not followed: sampled away


class _Document(HTMLParser):
    """Collects links and checks well-formedness: end tags match, nothing left open,
    no duplicate ids, the <html> tag's language."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, bool]] = []  # (url, is an htmx request)
        self.errors: list[str] = []
        self.stack: list[str] = []
        self.ids: Counter[str] = Counter()
        self.html_lang: str | None = None
        self.has_html = False
        self.refs: list[tuple[str, str]] = []  # (id, the attribute naming it)
        self.post_actions: list[str] = []  # where its POST forms go: never fetched, resolved
        self.texts: list[str] = []  # text and the attributes people read, to find English

    def handle_data(self, data):
        if self.stack and self.stack[-1] in ("script", "style", "code", "pre"):
            return
        if data.strip():
            self.texts.append(data.strip())

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.texts += [a[k].strip() for k in ("placeholder", "title", "aria-label") if a.get(k)]
        if tag == "html":
            self.has_html = True
            self.html_lang = a.get("lang")
        if a.get("id"):
            self.ids[a["id"]] += 1
        if tag == "a" and a.get("href"):
            self.links.append((a["href"], False))
        if tag == "img" and a.get("src"):
            self.links.append((a["src"], False))
        if tag == "form" and (a.get("method") or "get").lower() == "get":
            self.links.append((a.get("action") or "", False))
        elif tag == "form":
            self.post_actions.append(a.get("action") or "")
        if tag == "button" and a.get("formaction"):
            self.post_actions.append(a["formaction"])
        if (tag == "script" and a.get("src")) or (tag == "link" and a.get("href")):
            self.links.append((a.get("src") or a["href"], False))
        if a.get("hx-get") is not None:
            self.links.append((a["hx-get"], True))
        # What the page refers to by id must be on it: labels, ARIA, htmx, in-page links.
        if tag == "label" and a.get("for"):
            self.refs.append((a["for"], "label for"))
        for attr in ("aria-labelledby", "aria-describedby", "aria-controls"):
            self.refs.extend((ref, attr) for ref in (a.get(attr) or "").split())
        if tag in ("input", "button", "select", "textarea") and a.get("form"):
            self.refs.append((a["form"], "form"))
        if tag == "input" and a.get("list"):
            self.refs.append((a["list"], "list"))
        for attr in ("hx-target", "hx-include", "hx-indicator"):
            for ref in (a.get(attr) or "").split(","):
                if re.fullmatch(r"#[\w-]+", ref.strip()):
                    self.refs.append((ref.strip()[1:], attr))
        href = a.get("href") or ""
        if tag == "a" and href.startswith("#") and len(href) > 1:
            self.refs.append((href[1:], "href"))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1] == tag:
            self.stack.pop()  # <svg/>-style self-closing foreign elements

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if tag not in self.stack:
            self.errors.append(f"stray </{tag}>")
            return
        while self.stack:
            top = self.stack.pop()
            if top == tag:
                return
            if top not in OPTIONAL_END:
                self.errors.append(f"<{top}> closed by </{tag}>")

    def finish(self) -> None:
        self.close()
        left = [t for t in self.stack if t not in OPTIONAL_END]
        if left:
            self.errors.append("never closed: " + ", ".join(f"<{t}>" for t in left))
        dup = sorted(i for i, n in self.ids.items() if n > 1)
        if dup:
            self.errors.append("duplicate ids: " + ", ".join(dup))
        missing = sorted({f"{attr}=#{ref}" for ref, attr in self.refs if ref not in self.ids})
        if missing:
            self.errors.append("refers to ids not on the page: " + ", ".join(missing))


def _normalise(base: str, href: str) -> str | None:
    """The same-site URL ``href`` leads to from ``base``, or None."""
    href = href.strip()
    if not href or href.startswith(("#", "mailto:", "tel:", "javascript:", "data:")):
        return None if href != "" else base
    parts = urlsplit(urljoin("http://testserver" + base, href))
    if parts.scheme not in ("http", "https") or parts.netloc != "testserver":
        return None
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return parts.path + (f"?{query}" if query else "")


def _translated_messages(lang: str) -> set[str]:
    """The app's English messages that have a translation to ``lang`` different from
    themselves: such a text on a page in ``lang`` was not translated."""
    catalog = translation.trans_real.translation(lang)._catalog
    # The language switch names each language in itself: "English" is right on any page.
    own_names = {translation.get_language_info(code)["name_local"] for code, _ in LANGUAGES}
    return {
        msgid
        for msgid, msgstr in catalog.items()
        if isinstance(msgid, str) and msgstr and msgstr != msgid and len(msgid) > 2
    } - own_names


def _url_name(path: str) -> str:
    try:
        match = resolve(path)
    except Resolver404:
        return path  # a 404 to come: fetched, and reported
    return match.view_name


def crawl(client, lang: str, share: int) -> Crawl:
    """Breadth-first from START, GET only; collects every problem instead of stopping."""
    result = Crawl()
    headers = {"Accept-Language": lang}
    untranslated = _translated_messages(lang)
    queue: deque[tuple[str, bool, str | None]] = deque([(START, False, None)])
    seen: set[tuple[str, bool]] = {(START, False)}
    variants: dict[str, set[str]] = {}
    of_a_kind: dict[str, set[str]] = {}
    page_ids: dict[str, set[str]] = {}  # the ids of each full HTML page fetched
    fragments: set[tuple[str, str, str]] = set()  # (page, #fragment, linked from)
    while queue and len(result.pages) < MAX_PAGES:
        url, htmx, referrer = queue.popleft()
        where = f"{url}{' (htmx)' if htmx else ''} (linked from {referrer})"
        if url.startswith("/static/"):
            if not finders.find(url.removeprefix("/static/").split("?")[0]):
                result.problems.append(f"missing static file {where}")
            continue
        extra = {"HX-Request": "true"} if htmx else {}
        t0 = time.monotonic()
        with CaptureQueriesContext(connection) as queries:
            try:
                response = client.get(url, headers={**headers, **extra})
            except Exception as exc:  # a view that raises is a 500 to a real user
                result.problems.append(f"{where} raised {type(exc).__name__}: {exc}")
                continue
        content_type = response.get("Content-Type", "")
        result.pages.append(
            Page(url, response.status_code, content_type, referrer, time.monotonic() - t0)
        )
        writes = [
            q["sql"][:120]
            for q in queries.captured_queries
            if WRITE.match(q["sql"]) and not SESSION_TABLE.match(q["sql"])
        ]
        if writes:
            result.problems.append(f"GET {where} writes: {writes}")
        if response.status_code not in OK:
            result.problems.append(f"{response.status_code} for {where}")
            continue
        if response.status_code == 302:
            target = _normalise(url, response["Location"])
            if target and target.startswith("/signin/"):
                result.problems.append(f"{where} sends a signed-in user to sign in")
            elif target and (target, False) not in seen:
                seen.add((target, False))
                queue.append((target, False, url))
            continue
        if response.streaming:
            # A file download: read it (the test client closes it at the end), nothing to follow.
            b"".join(response.streaming_content)
            continue
        if not content_type.startswith("text/html"):
            continue
        body = response.content.decode()
        doc = _Document()
        doc.feed(body)
        doc.finish()
        problems = [f"{where}: {e}" for e in doc.errors]
        if not htmx:
            if not doc.has_html:
                problems.append(f"{where}: no <html> element")
            elif doc.html_lang != lang:
                problems.append(f"{where}: <html lang={doc.html_lang!r}>, expected {lang!r}")
        if lang != "en":
            english = sorted({t for t in doc.texts if t in untranslated})
            if english:
                problems.append(f"{where}: in English: {english}")
        if "{%" in body or "{{" in body:
            problems.append(f"{where}: template syntax in the page")
        result.problems.extend(problems)
        if not htmx:
            page_ids[url] = set(doc.ids)
        for action in doc.post_actions:
            target = _normalise(url, action)
            if target is not None and _url_name(target.partition("?")[0]).startswith("/"):
                result.problems.append(f"{where}: a form posts to {target}, which is no page")
        for href, hx in doc.links:
            target = _normalise(url, href)
            fragment = urlsplit(href).fragment
            if target and fragment and not href.startswith("#"):
                fragments.add((target, fragment, url))
            if target is None or target.startswith(SKIP_PREFIXES) or (target, hx) in seen:
                continue
            path, _, query = target.partition("?")
            kind = of_a_kind.setdefault(_url_name(path), set())
            if path not in kind:
                if (
                    len(kind) >= FIRST_OF_A_KIND
                    and zlib.crc32(path.encode()) % SAMPLE_STRIDE != share
                ):
                    result.skipped.add(target)
                    continue
                kind.add(path)
            if query:
                known = variants.setdefault(path, set())
                if query not in known and len(known) >= MAX_QUERY_VARIANTS:
                    result.skipped.add(target)
                    continue
                known.add(query)
            seen.add((target, hx))
            queue.append((target, hx, url))
    if queue:
        result.problems.append(f"more than {MAX_PAGES} pages: a crawl trap?")
    for target, fragment, referrer in sorted(fragments):
        if target in page_ids and fragment not in page_ids[target]:
            result.problems.append(f"{target}#{fragment} (linked from {referrer}): no such id")
    return result


@pytest.mark.slow
@pytest.mark.django_db
def test_every_page_reachable_from_the_projects_works_for_every_role(settings, tmp_path):
    """One test for the eight people: the demo is loaded once (in this test's transaction,
    rolled back after it like any test's data), and under xdist only one worker pays for it."""
    settings.HOME = tmp_path  # the demo's credentials file
    # What the demo leaves for after its commit (queued tasks, mail) runs as it would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert demo.load().created
    problems: list[str] = []
    reached: set[str] = set()
    for share, (username, lang) in enumerate(USERS):
        client = Client()
        client.force_login(User.objects.get(username=username))
        started = time.monotonic()
        result = crawl(client, lang, share=share)
        elapsed = time.monotonic() - started
        kinds = {_url_name(p.url.partition("?")[0]) for p in result.pages}
        print(
            f"\n{username} ({lang}): {len(result.pages)} pages of {len(kinds)} kinds in "
            f"{elapsed:.1f}s; {len(result.skipped)} more links of kinds already seen not followed"
        )
        # The crawl really went through the project: what every member may see was reached.
        if missing := EVERY_MEMBER_SEES - kinds:
            problems.append(f"{username}: never reached {sorted(missing)}")
        problems += [f"{username} ({lang}): {problem}" for problem in result.problems]
        reached |= {p.url for p in result.pages}
    # Together the eight saw every change request of the demo.
    keys = set(ChangeRequest.objects.values_list("key", flat=True))
    assert {k for k in keys if f"/changes/{k}/" not in reached} == set()
    assert not problems, "\n".join(problems)


def test_the_checks_find_what_they_look_for():
    """The crawl's HTML checks on a page with one of each fault (so that a crawl that passes
    means something)."""
    doc = _Document()
    doc.feed(
        '<!doctype html><html lang="en"><body><div id="a"><span id="a"></div>'
        '<label for="nowhere">x</label><input aria-describedby="gone"><a href="#missing">m</a>'
        "<p>open paragraph<section></body></html></em>"
    )
    doc.finish()
    assert doc.errors == [
        "<span> closed by </div>",
        "<section> closed by </body>",
        "stray </em>",
        "duplicate ids: a",
        "refers to ids not on the page: aria-describedby=#gone, href=#missing, label for=#nowhere",
    ]
    assert doc.html_lang == "en"
    fine = _Document()
    fine.feed('<html lang="zh-hans"><body><ul><li id="x">one<li>two</ul><img src="/i.png">'
              '<label for="x">x</label></body></html>')  # fmt: skip
    fine.finish()
    assert fine.errors == [] and fine.links == [("/i.png", False)]
    forms = _Document()
    forms.feed('<link rel="stylesheet" href="/static/css/app.css"><script src="/static/x.js">'
               '</script><form method="post" action="/changes/ACME-1/vote/"></form>'
               '<form action="/changes/"></form>')  # fmt: skip
    assert forms.links == [("/static/css/app.css", False), ("/static/x.js", False),
                           ("/changes/", False)]  # fmt: skip
    assert forms.post_actions == ["/changes/ACME-1/vote/"]
    assert _url_name("/changes/ACME-1/vote/") == "cr-vote"
    assert _url_name("/changes/ACME-1/nothing/") == "/changes/ACME-1/nothing/"  # no page
    assert finders.find("css/app.css") and not finders.find("x.js")
    chinese = _translated_messages("zh-hans")
    assert "Change Control Board" in chinese and "English" not in chinese
    assert _normalise("/changes/", "?page=2&sort=-key") == "/changes/?page=2&sort=-key"
    assert _normalise("/changes/", "?sort=-key&page=2") == "/changes/?page=2&sort=-key"
    assert _normalise("/changes/ACME-1/", "edit/") == "/changes/ACME-1/edit/"
    assert _normalise("/x/", "https://example.com/") is None
    assert _normalise("/x/", "mailto:a@b.c") is None
