"""Words that mean something else in another place are shown in each place's own Chinese.

gettext merges identical msgids across the catalogues, so such a word needs a context
(pgettext, ``translate ... context``); these tests read the pages and the API schema in
zh-Hans where each meaning is shown, and check the English is unchanged."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from changeflow.changes import services
from tests.factories import advance, fresh, make_cr
from tests.meetings.helpers import latest_key, make_meeting

pytestmark = pytest.mark.django_db
ZH = {"Accept-Language": "zh-hans"}
EN = {"Accept-Language": "en"}


def _schema(headers) -> dict:
    return (
        Client().get("/api/v1/schema/?format=json", headers=headers).json()["components"]["schemas"]
    )


def _titles(schemas: dict, name: str, field: str) -> set[str]:
    """The titles of ``field`` in the schema components ``name`` (and its request variant)."""
    return {
        props[field].get("title", "")
        for component, body in schemas.items()
        if component in (name, f"{name}Request") and field in (props := body.get("properties", {}))
    }


def test_schema_titles_follow_each_models_meaning():
    zh = _schema(ZH)
    # The mail intake's reasons are its own (why a mail was quarantined), not a CR's reason.
    assert _titles(zh, "QuarantinedMail", "reason") == {"原因"}
    # A communication record's channel is how we spoke with the customer.
    assert _titles(zh, "Communication", "channel") == {"沟通渠道"}
    # A board member's vote carries an opinion, as on the vote forms.
    assert _titles(zh, "Vote", "comment") == {"意见"}
    # The change request keeps its own words.
    assert _titles(zh, "ChangeRequest", "reason") == {"变更原因"}
    assert _titles(zh, "ChangeRequest", "channel") == {"提出渠道"}
    # In English the title is left out where it is only the field's name.
    en = _schema(EN)
    assert _titles(en, "QuarantinedMail", "reason") <= {"", "Reason"}
    assert _titles(en, "Communication", "channel") <= {"", "Channel"}


def _get(client, user, path, headers=ZH) -> str:
    client.force_login(user)
    response = client.get(path, headers=headers)
    assert response.status_code == 200, path
    return response.content.decode()


def _label(html: str, text: str) -> bool:
    return re.search(rf"<(label|th|dt)\b[^>]*>\s*{re.escape(text)}\s*<", html) is not None


def test_communication_log_form_says_communication_channel(client, personas):
    html = _get(client, personas.pm, "/projects/ACME/communications/")
    assert _label(html, "沟通渠道") and "提出渠道" not in html
    assert _label(_get(client, personas.pm, "/projects/ACME/communications/", EN), "Channel")


def test_freeze_window_form_says_freeze_reason(client, personas):
    html = _get(client, personas.pm, "/projects/ACME/board/")
    assert _label(html, "冻结原因") and "变更原因" not in html


def test_emergencies_column_is_the_approval_time(client, personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, emergency=True), p, "triaged")
    services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve_emergency")
    html = _get(client, p.viewer, "/projects/ACME/emergencies/")
    assert cr.key in html and _label(html, "批准时间")
    assert _label(_get(client, p.viewer, "/projects/ACME/emergencies/", EN), "Approved")


def test_cr_vote_form_asks_for_an_opinion(client, personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    html = _get(client, p.pm, f"/changes/{cr.key}/")
    assert _label(html, "意见")  # the vote's comment
    assert _label(html, "评论")  # a comment on the request, and a transition's


def test_held_meeting_says_agenda_item_decision_and_vote_opinion(client, personas):
    p = personas
    advance(make_cr(p.project, by=p.customer), p, "in_review")
    m = make_meeting(p, "ccb")
    base = f"/projects/ACME/meetings/{m.pk}/{latest_key(m)}/"
    client.force_login(p.pm)
    assert client.post(base + "do/", {"op": "hold"}).status_code == 302
    att = {f"att-{u.username}": "present" for u in (p.pm, p.qa, p.customer_rep, p.tech_lead)}
    assert client.post(base + "do/", {"op": "attendance", **att}).status_code == 302
    html = _get(client, p.pm, base)
    assert _label(html, "议题")  # an agenda item's title
    assert _label(html, "决议")  # the meeting's decision on an item
    assert _label(html, "意见")  # a vote's comment
    en = _get(client, p.pm, base, EN)
    assert _label(en, "Item") and _label(en, "Decision") and _label(en, "Comment")
