"""Translations: the zh-Hans catalogue is complete, and pages follow the browser's language."""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

import changeflow

SOURCE = Path(changeflow.__file__).parent
CATALOGUE = SOURCE / "locale" / "zh_Hans" / "LC_MESSAGES"
# The project's catalogue, and those an app keeps in its own locale/ folder (Django reads both).
CATALOGUES = sorted(SOURCE.glob("**/locale/zh_Hans/LC_MESSAGES/django.po"))


def _entries(text: str):
    """(flags, msgid, msgstrs) for each entry of a .po file; an entry with a context (pgettext)
    has the msgid ``context\x04msgid``, as in a compiled catalogue."""
    for block in text.strip().split("\n\n"):
        lines = [ln for ln in block.splitlines() if not ln.startswith("#~")]
        flags = " ".join(ln for ln in lines if ln.startswith("#,"))
        body = "\n".join(ln for ln in lines if not ln.startswith("#"))
        if not body:
            continue
        parts = re.split(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) ", body, flags=re.M)
        fields: dict[str, str] = {}
        for key, value in zip(parts[1::2], parts[2::2], strict=True):
            fields[key] = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', value))
        strs = [v for k, v in fields.items() if k.startswith("msgstr")]
        msgid = fields.get("msgid", "")
        if "msgctxt" in fields:
            msgid = f"{fields['msgctxt']}\x04{msgid}"
        yield flags, msgid, strs


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_zh_hans_catalogue_has_no_untranslated_or_fuzzy_entries(po_path):
    po = po_path.read_text(encoding="utf-8")
    problems = []
    count = 0
    for flags, msgid, strs in _entries(po):
        if msgid == "":
            continue  # the header
        count += 1
        if "fuzzy" in flags:
            problems.append(f"fuzzy: {msgid}")
        elif not strs or not all(strs):
            problems.append(f"untranslated: {msgid}")
    assert count > (100 if po_path.parent == CATALOGUE else 0)
    assert not problems, "\n".join(problems)


def test_no_message_has_two_translations():
    """Django merges every catalogue into one: a msgid that two catalogues translate differently
    shows one of them everywhere (the project catalogue's, else the first app's in
    INSTALLED_APPS), whatever the other says. One message, one translation; where a word means
    something else in another place, it gets a context (pgettext, ``translate ... context``)."""
    translations: dict[str, dict[str, tuple[str, ...]]] = {}
    for po_path in CATALOGUES:
        for _flags, msgid, strs in _entries(po_path.read_text(encoding="utf-8")):
            if msgid:
                where = str(po_path.relative_to(SOURCE).parents[2])
                translations.setdefault(msgid, {})[where] = tuple(strs)
    conflicts = {m: w for m, w in translations.items() if len(set(w.values())) > 1}
    assert not conflicts, "\n".join(f"{m!r}: {w}" for m, w in conflicts.items())


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_compiled_catalogue_matches_the_po_file(po_path):
    """The committed .mo holds every translation of the .po (compilemessages was run)."""
    import gettext

    with po_path.with_suffix(".mo").open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    po = po_path.read_text(encoding="utf-8")
    stale = []
    for _flags, msgid, strs in _entries(po):
        if msgid and len(strs) == 1:
            expected = strs[0].encode().decode("unicode_escape").encode("latin-1").decode()
            source = msgid.encode().decode("unicode_escape").encode("latin-1").decode()
            if compiled.gettext(source) != expected:
                stale.append(msgid)
    assert not stale, "run compilemessages: " + ", ".join(stale[:5])


@pytest.mark.django_db
def test_pages_follow_the_browser_language(client):
    zh = client.get("/signin/", headers={"Accept-Language": "zh-hans"})
    html = zh.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "登录" in html and "客户需求变更管理" in html
    en = client.get("/signin/", headers={"Accept-Language": "en"}).content.decode()
    assert "Sign in" in en and "登录" not in en
    # zh-CN browsers get Simplified Chinese too.
    cn = client.get("/signin/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).content.decode()
    assert "客户需求变更管理" in cn


@pytest.mark.django_db
def test_language_can_be_switched(client, personas):
    client.force_login(personas.pm)
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/projects/"})
    assert response.status_code == 302
    html = client.get("/projects/", headers={"Accept-Language": "en"}).content.decode()
    assert "新建" not in html  # the PM is not an admin
    assert "项目" in html and "退出登录" in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/projects/"})
    assert "Sign out" in client.get("/projects/").content.decode()


@pytest.mark.django_db
def test_workflow_and_service_strings_are_translated(client, personas):
    from tests.factories import advance, make_cr

    cr = advance(make_cr(personas.project, by=personas.customer), personas, "in_review")
    client.force_login(personas.pm)
    html = client.get(f"/changes/{cr.key}/", headers={"Accept-Language": "zh-hans"}).content
    html = html.decode()
    for text in ("评审中", "委员会投票", "影响评估", "历史记录", "提请委员会评审", "撤回"):
        assert text in html, text
    response = client.post(
        f"/changes/{cr.key}/transition/",
        {"action": "start_assessment"},
        headers={"Accept-Language": "zh-hans"},
    )
    assert response.status_code == 409
    assert "当前状态下无法执行。" in response.content.decode()


@pytest.mark.skipif(not shutil.which("xgettext"), reason="needs gettext's xgettext")
def test_catalogue_covers_every_string_in_the_source(tmp_path, settings):
    """makemessages over a copy of the source finds no string the catalogue lacks."""
    copy = tmp_path / "changeflow"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__", "static"))
    settings.LOCALE_PATHS = [copy / "locale"]
    cwd = os.getcwd()
    os.chdir(copy)
    try:
        call_command("makemessages", locale=["zh_Hans"], verbosity=0, no_obsolete=True)
    finally:
        os.chdir(cwd)
    # makemessages writes an app's strings to the app's own catalogue: read every one it made.
    fresh = sorted(copy.glob("**/locale/zh_Hans/LC_MESSAGES/django.po"))
    assert len(fresh) == len(CATALOGUES), fresh
    known = {
        msgid
        for po_path in CATALOGUES
        for _f, msgid, _s in _entries(po_path.read_text(encoding="utf-8"))
    }
    found = {msgid for po in fresh for _f, msgid, _s in _entries(po.read_text(encoding="utf-8"))}
    missing = sorted(found - known)
    assert not missing, "run makemessages and translate: " + "; ".join(missing[:10])
