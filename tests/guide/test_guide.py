"""The process guide: complete in both languages, true to the workflow, and one click away
from every page."""

import re

import pytest
from django.urls import URLResolver, get_resolver, reverse

from changeflow.changes import workflow
from changeflow.guide import topics
from tests.factories import make_cr, make_personas

# Named web pages that open no topic of their own (the top bar links to the guide's index).
NO_TOPIC = {
    "healthz": "a probe, not a page",
    "readyz": "a probe, not a page",
    "set_language": "the language switch",
    "login": "the sign-in page: the index is linked",
    "logout": "signing out",
    "calendar-feed": "a calendar file",
    "project-feed": "a calendar file",
    "guide": "the guide itself",
    "guide-topic": "the guide itself",
}

LINK = re.compile(r"\]\(\.\./([a-z-]+)/\)")


def _web_pages():
    def walk(resolver, prefix=""):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern, prefix + str(pattern.pattern))
            elif pattern.name:
                yield prefix + str(pattern.pattern), pattern.name

    return {name for route, name in walk(get_resolver()) if not route.startswith("api/")}


def test_every_web_page_has_a_topic_or_a_reason():
    pages = _web_pages()
    assert set(topics.BY_PAGE) <= pages, "topics name pages that do not exist"
    missing = pages - set(topics.BY_PAGE) - set(NO_TOPIC)
    assert not missing, f"pages whose help link opens no topic: {sorted(missing)}"
    assert not set(NO_TOPIC) & set(topics.BY_PAGE)


@pytest.mark.parametrize("topic", topics.TOPICS, ids=lambda t: t.slug)
def test_every_topic_is_written_in_both_languages_with_the_same_sections(topic):
    texts = {lang: topics.text(topic, lang) for lang in ("en", "zh-hans")}
    sections = {lang: len(re.findall(r"^## ", text, re.M)) for lang, text in texts.items()}
    links = {lang: sorted(LINK.findall(text)) for lang, text in texts.items()}
    assert sections["en"] >= 1 and sections["en"] == sections["zh-hans"]
    assert links["en"] == links["zh-hans"]
    assert set(links["en"]) <= set(topics.BY_SLUG), "a link to a topic that does not exist"
    assert re.search(r"[\u4e00-\u9fff]", texts["zh-hans"]) and not re.search(
        r"[\u4e00-\u9fff]", texts["en"]
    )


def test_the_language_falls_back_to_english():
    assert topics.language_dir("fr") == "en"
    assert topics.language_dir("zh-hans") == topics.language_dir("zh-hant") == "zh_Hans"


@pytest.mark.django_db
def test_the_guide_is_open_to_everyone_in_both_languages(client):
    page = client.get(reverse("guide"), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    html = page.content.decode()
    for topic in topics.TOPICS:
        assert reverse("guide-topic", args=[topic.slug]) in html
    page = client.get(reverse("guide-topic", args=["board"]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<h2>投票</h2>" in html and "<h1>变更控制委员会</h1>" in html
    assert client.get("/guide/no-such-topic/").status_code == 404


@pytest.mark.django_db
def test_the_steps_table_is_the_workflow_s(client):
    html = client.get(reverse("guide-topic", args=["process"]), HTTP_ACCEPT_LANGUAGE="en")
    table = html.content.decode().split('data-testid="guide-steps"')[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]
    assert len(rows) == len(workflow.TABLE)
    by_step = {re.search(r"<td>(.*?)</td>", row).group(1): row for row in rows}
    verify = by_step["Verify and close"]
    assert "<td>Verifying</td>" in verify and "<td>Closed</td>" in verify
    assert "<td>Project manager or QA " in verify
    assert "never the requester" in verify
    assert "Project manager or the board&#x27;s chair" in by_step["Emergency approval"]
    assert "<td>Project manager or the requester</td>" in by_step["Submit"]
    assert "<td>the board&#x27;s votes</td>" in by_step["Ratify"]
    assert "<td>Submitted, Triaged, Assessing or In review</td>" in by_step["Return to requester"]


@pytest.mark.django_db
def test_each_page_links_to_its_topic(client):
    p = make_personas()
    cr = make_cr(p.project, by=p.pm)
    client.force_login(p.pm)
    for url, slug in (
        (reverse("cr-detail", args=[cr.key]), "process"),
        (reverse("cr-assessment", args=[cr.key]), "assessment"),
        (reverse("ccb-board", args=[p.project.key]), "board"),
        (reverse("requirement-list", args=[p.project.key]), "implementation"),
        (reverse("comms-log", args=[p.project.key]), "communication"),
    ):
        html = client.get(url).content.decode()
        link = re.search(r'<a class="helplink" href="([^"]+)"', html)
        assert link and link.group(1) == reverse("guide-topic", args=[slug]), url
    client.logout()
    html = client.get(reverse("login")).content.decode()
    assert f'<a class="helplink" href="{reverse("guide")}"' in html
