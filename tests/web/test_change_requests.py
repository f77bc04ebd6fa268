"""The CR pages: create, list, detail, actions, edits, comments, attachments, assessments, votes."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext

from changeflow.ccb import services as ccb_services
from changeflow.changes import selectors, services
from changeflow.changes.models import ChangeRequest
from changeflow.changes.workflow import State
from changeflow.core import audit
from changeflow.impact import services as impact
from changeflow.impact.models import Dimension, RoundStatus
from tests.factories import PASSWORD, advance, complete_assessment, fresh, make_cr

pytestmark = pytest.mark.django_db


def _as(client, user):
    client.force_login(user)
    return client


def _buttons(response) -> list[str]:
    return sorted(re.findall(r'name="action" value="([a-z_]+)"', response.content.decode()))


# ------------------------------------------------------------------ create


def test_create_a_change_request_in_chinese(client, personas):
    c = _as(client, personas.customer)
    response = c.post(
        "/projects/ACME/changes/new/",
        {
            "title": "登录页面需要支持短信验证码",
            "description": "用户希望通过短信验证码登录。\r\n第二行。",
            "channel": "web",
            "type": "feature",
            "priority": "P2",
            "labels": "登录，安全",
            "desired_date": "2027-01-15",
        },
    )
    assert response.status_code == 302
    cr = selectors.change_request_get(user=personas.customer, key="ACME-1")
    assert response["Location"] == "/changes/ACME-1/"
    assert cr.title == "登录页面需要支持短信验证码"
    assert cr.description == "用户希望通过短信验证码登录。\n第二行。"
    assert cr.labels == ["安全", "登录"]
    assert cr.state == "draft"
    assert cr.requested_by == personas.customer


def test_create_and_submit_at_once_for_another_requester(client, personas):
    c = _as(client, personas.pm)
    response = c.post(
        "/projects/ACME/changes/new/",
        {
            "title": "Export to Excel",
            "description": "From the meeting on Monday.",
            "channel": "meeting",
            "requested_by": personas.customer.username,
            "submit": "on",
        },
    )
    assert response.status_code == 302
    cr = selectors.change_request_get(user=personas.pm, key="ACME-1")
    assert (cr.state, cr.channel, cr.requested_by) == ("submitted", "meeting", personas.customer)


def test_a_customer_cannot_name_another_requester(client, personas):
    c = _as(client, personas.customer)
    form = c.get("/projects/ACME/changes/new/").content.decode()
    assert f'value="{personas.pm.username}"' not in form
    data = {"title": "ok", "description": "x", "channel": "web"}
    response = c.post(
        "/projects/ACME/changes/new/", {**data, "requested_by": "project_manager_acme"}
    )
    assert response.status_code == 400
    assert not selectors.change_request_list(user=personas.pm).exists()
    pm_form = _as(client, personas.pm).get("/projects/ACME/changes/new/").content.decode()
    assert f'value="{personas.customer.username}"' in pm_form


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": "", "description": "x"}, "title"),
        ({"title": "   ", "description": "x"}, "title"),
        ({"title": "x" * 201, "description": "x"}, "title"),
        ({"title": "ok", "description": ""}, "description"),
        ({"title": "ok", "description": "x" * 100_001}, "description"),
        ({"title": "ok", "description": "x", "type": "bogus"}, "type"),
        ({"title": "ok", "description": "x", "priority": "P9"}, "priority"),
        ({"title": "ok", "description": "x", "desired_date": "tomorrow"}, "desired_date"),
        ({"title": "ok", "description": "x", "requested_by": "outsider_acme"}, "requested_by"),
        ({"title": "ok", "description": "x", "labels": ",".join(["l%d" % i for i in range(21)])},
         "labels"),
    ],
)  # fmt: skip
def test_create_with_bad_input_shows_errors_not_500(client, personas, data, field):
    c = _as(client, personas.customer)
    response = c.post("/projects/ACME/changes/new/", {"channel": "web", **data})
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode() or "msg-error" in response.content.decode()
    assert not selectors.change_request_list(user=personas.pm).exists()


def test_help_texts_and_errors_are_where_the_fields_aria_describedby_points(client, personas):
    """Django gives a field with help text or errors aria-describedby="<id>_helptext <id>_error";
    the shared field template did not render those ids, so screen readers read no help."""
    c = _as(client, personas.customer)
    for response in (
        c.get("/projects/ACME/changes/new/"),
        c.post(
            "/projects/ACME/changes/new/",
            {"channel": "web", "title": "", "description": "d"},
        ),
    ):
        html = response.content.decode()
        described = {i for v in re.findall(r'aria-describedby="([^"]+)"', html) for i in v.split()}
        assert described, response.status_code
        ids = set(re.findall(r'\sid="([^"]+)"', html))
        assert sorted(described - ids) == []
    assert 'aria-describedby="id_title_error"' in html and 'id="id_title_error"' in html
    assert 'aria-describedby="id_labels_helptext"' in html and 'id="id_labels_helptext"' in html


def test_viewer_cannot_create(client, personas):
    response = _as(client, personas.viewer).post(
        "/projects/ACME/changes/new/", {"title": "t", "description": "d", "channel": "web"}
    )
    assert response.status_code == 403


# ------------------------------------------------------------------ detail


def test_detail_renders_user_text_safely(client, personas):
    cr = make_cr(
        personas.project,
        by=personas.customer,
        title="<b>title</b>",
        description="第一行\n<script>alert(1)</script>\n[x](javascript:alert(1)) **粗体**",
    )
    html = _as(client, personas.pm).get(f"/changes/{cr.key}/").content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html
    assert "<b>title</b>" not in html
    assert 'href="javascript' not in html
    assert "<strong>粗体</strong>" in html
    assert "第一行<br" in html


def test_detail_shows_assessment_classification_and_ratification_flag(client, personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, emergency=True, type="feature", priority="P1")
    cr = advance(cr, p, "assessing")
    complete_assessment(cr, by=p.tech_lead, resources=[{"role": "后端开发", "hours": "24"}])
    services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve_emergency")
    html = _as(client, p.pm).get(f"/changes/{cr.key}/").content.decode()
    assert "Ratification pending" in html
    assert "12,000.00 CNY" in html
    assert "SMS gateway quota" in html
    assert "0.9" in html  # exposure 0.3 × 3
    assert "后端开发" in html
    assert "P1 — critical" in html
    assert "Emergency" in html


@pytest.mark.parametrize(
    ("state", "who"),
    [
        ("draft", "customer"),
        ("draft", "pm"),
        ("draft", "developer"),
        ("submitted", "pm"),
        ("submitted", "tech_lead"),
        ("submitted", "qa"),
        ("in_review", "pm"),
        ("in_review", "customer"),
        ("implementing", "developer"),
        ("verifying", "qa"),
        ("verifying", "viewer"),
    ],
)
def test_buttons_are_exactly_the_available_actions(client, personas, state, who):
    cr = advance(make_cr(personas.project, by=personas.customer), personas, state)
    user = getattr(personas, who)
    response = _as(client, user).get(f"/changes/{cr.key}/")
    expected = sorted(a.value for a in services.available_actions(cr=fresh(cr, user), user=user))
    assert _buttons(response) == expected


def _next_steps(html: str) -> str:
    match = re.search(r'<section class="card actions-card".*?</section>', html, re.S)
    return match.group(0) if match else ""


def test_next_steps_say_what_an_unmet_precondition_needs(client, personas):
    """An action blocked only by a precondition is named with what it needs, not hidden."""
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)  # no type, no priority
    steps = _next_steps(_as(client, p.tech_lead).get(f"/changes/{cr.key}/").content.decode())
    assert 'value="triage"' not in steps
    assert "Not possible yet:" in steps
    assert "Set the type and the priority to triage." in steps
    assert "Required to return a change request" in steps  # return is offered
    # In assessment without an assessment: review needs one (said once, not per action).
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    steps = _next_steps(_as(client, p.pm).get(f"/changes/{cr.key}/").content.decode())
    assert steps.count("impact assessment") == 1
    assert "emergency" not in steps  # not flagged: no noise about emergency approval
    # Verifying without actuals: QA is told to record them; no "return" hint on the comment.
    cr = advance(make_cr(p.project, by=p.customer), p, "verifying")
    steps = _next_steps(_as(client, p.qa).get(f"/changes/{cr.key}/").content.decode())
    assert "Record the actual effort before verifying." in steps
    assert 'value="verify"' not in steps
    # A customer who may only withdraw sees no hint about returning.
    cr = make_cr(p.project, by=p.customer, submit=True)
    steps = _next_steps(_as(client, p.customer).get(f"/changes/{cr.key}/").content.decode())
    assert 'value="withdraw"' in steps
    assert "Required to return" not in steps
    assert "Not possible yet:" not in steps
    # Nothing to do and nothing blocked: no card at all.
    steps = _next_steps(_as(client, p.viewer).get(f"/changes/{cr.key}/").content.decode())
    assert steps == ""


def test_history_does_not_show_an_empty_value_that_replaced_nothing(client, personas):
    """Reopening clears the decision mode; the history says nothing like "Decided by: —"."""
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    p.project.delegate_max_effort_hours = 1000
    p.project.save()
    for action in ("defer", "reopen"):
        cr = services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action=action)
    html = _as(client, p.pm).get(f"/changes/{cr.key}/").content.decode()
    reopen = re.search(r'<li class="tl-item tl-cr-reopen">.*?</li>\s*</ul>', html, re.S).group(0)
    assert "<del>Deferred</del> → <ins>Triaged</ins>" in reopen
    assert "Decided by" not in reopen
    assert html.count("Decided by") == 1  # the deferral, decided by delegated authority


def test_ratified_emergency_approval_keeps_a_badge(client, personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, emergency=True, type="defect", priority="P1")
    cr = advance(cr, p, "triaged")
    services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve_emergency")
    for voter in (p.tech_lead, p.qa, p.customer_rep):
        services.vote_cast(user=voter, cr=fresh(cr, voter), decision="approve", password=PASSWORD)
    assert fresh(cr, p.pm).ratification == "ratified"
    html = _as(client, p.customer).get(f"/changes/{cr.key}/").content.decode()
    assert '<span class="badge flag-ok">Ratified</span>' in html


def test_vote_form_only_for_eligible_board_members(client, personas):
    cr = advance(make_cr(personas.project, by=personas.customer), personas, "in_review")
    for who, shown in (("pm", True), ("qa", True), ("customer_rep", True), ("developer", False),
                       ("customer", False), ("viewer", False)):  # fmt: skip
        html = _as(client, getattr(personas, who)).get(f"/changes/{cr.key}/").content.decode()
        assert ('action="/changes/ACME-1/vote/"' in html) is shown, who
        assert "Board vote" in html


def test_the_forms_of_the_cr_page_have_ids_of_their_own(client, personas):
    """The transition, the estimate and the vote forms each have a comment: one id for all
    three made every label point at the first box."""
    cr = advance(make_cr(personas.project, by=personas.customer), personas, "in_review")
    html = _as(client, personas.pm).get(f"/changes/{cr.key}/").content.decode()
    assert 'name="action"' in html and 'action="/changes/ACME-1/vote/"' in html
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    assert 'for="id_comment"' in html and 'for="id_vote_comment"' in html
    assert 'id="id_vote_comment"' in html and 'id="id_vote_password"' in html
    assert 'for="id_estimate_comment"' in html and 'id="id_estimate_effort_optimistic"' in html


# ------------------------------------------------------------------ transitions


def test_history_names_estimates_rounds_and_service_levels_in_the_readers_language(
    client, personas
):
    """Other apps' events showed their keys and codes (effort, outcome: disagreed, stage:
    triaged, spread: effort: 0.2...) on the Chinese page too, and a reason the system gave for
    resetting the votes stayed in the language it was recorded in."""
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    for who, m in ((p.developer, 10), (p.tech_lead, 30)):
        impact.expert_estimate_submit(
            user=who, cr=fresh(cr, who),
            effort={"optimistic": m * 0.8, "most_likely": m, "pessimistic": m * 1.5},
        )  # fmt: skip
    impact.estimation_round_close(user=p.tech_lead, cr=fresh(cr, p.tech_lead))
    with transaction.atomic():  # as the service-level job records a breach
        audit.record(actor="system", action="sla.breached", object_type="change_request",
                     object_key=cr.key, project="ACME",
                     after={"stage": "triaged", "priority": "P2", "target_hours": 24,
                            "level": 1, "notify": []})  # fmt: skip
    complete_assessment(cr, by=p.tech_lead)
    cr = services.change_request_transition(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="request_review"
    )
    services.vote_cast(user=p.qa, cr=fresh(cr, p.qa), decision="approve", password=PASSWORD)
    with translation.override("en"), transaction.atomic():
        reason = gettext("The change set changed.")  # as the change sets reset them
        ccb_services.reset_votes(cr=fresh(cr, p.pm), reason=reason, by=p.pm)
    html = _as(client, p.pm).get(f"/changes/{cr.key}/", headers={"Accept-Language": "zh-hans"})
    html = html.content.decode()
    fields = re.findall(r'<span class="tl-field">([^<]+)</span>', html)
    values = re.findall(r"<ins>([^<]+)</ins>", html)
    for key in ("effort", "outcome", "disagree", "spread", "next_round", "stage", "target_hours",
                "level"):  # fmt: skip
        assert key not in fields, key
    with translation.override("zh-hans"):
        effort = str(Dimension.EFFORT.label)
        assert effort in fields and gettext("Next round") in fields
        assert str(RoundStatus.DISAGREED.label) in values
        assert str(State.TRIAGED.label) in values and "triaged" not in values
        assert effort in values  # the dimension the estimators disagreed on
        assert any(v.startswith(f"{effort}: ") for v in values)  # its spread
        assert gettext("The change set changed.") in html
    assert "The change set changed." not in html


def test_submit_moves_the_state_and_appears_in_history(client, personas):
    cr = make_cr(personas.project, by=personas.customer)
    c = _as(client, personas.customer)
    response = c.post(f"/changes/{cr.key}/transition/", {"action": "submit"})
    assert response.status_code == 302
    assert fresh(cr, personas.pm).state == "submitted"
    html = c.get(f"/changes/{cr.key}/").content.decode()
    assert "tl-cr-submit" in html
    assert "<del>Draft</del> → <ins>Submitted</ins>" in html


def test_transition_errors_have_their_status_and_a_message(client, personas):
    cr = make_cr(personas.project, by=personas.customer, submit=True)
    pm = _as(client, personas.pm)
    # Not possible from the current state: 409.
    response = pm.post(f"/changes/{cr.key}/transition/", {"action": "start_assessment"})
    assert response.status_code == 409
    assert "Not possible in the current state." in response.content.decode()
    # Return needs a comment: 422; with one it works.
    response = pm.post(f"/changes/{cr.key}/transition/", {"action": "return", "comment": " "})
    assert response.status_code == 422
    assert "Say in a comment" in response.content.decode()
    # Unknown action: 400.
    assert pm.post(f"/changes/{cr.key}/transition/", {"action": "explode"}).status_code == 400
    assert pm.post(f"/changes/{cr.key}/transition/", {}).status_code == 400
    response = pm.post(
        f"/changes/{cr.key}/transition/", {"action": "return", "comment": "缺少验收标准"}
    )
    assert response.status_code == 302
    assert fresh(cr, personas.pm).state == "returned"
    # A viewer may not act: 403.
    viewer = _as(client, personas.viewer)
    assert viewer.post(f"/changes/{cr.key}/transition/", {"action": "submit"}).status_code == 403


def test_get_is_not_allowed_on_action_endpoints(client, personas):
    cr = make_cr(personas.project, by=personas.customer)
    c = _as(client, personas.pm)
    for path in ("transition", "comments", "vote", "attachments", "actuals"):
        assert c.get(f"/changes/{cr.key}/{path}/").status_code == 405


@pytest.mark.parametrize(
    "who, path, message",
    [("viewer", "transition", "Viewers cannot change anything."),
     ("viewer", "comments", "Viewers cannot change anything."),
     ("viewer", "attachments", "Viewers cannot change anything."),
     ("viewer", "actuals", "Viewers cannot change anything."),
     ("viewer", "vote", "Viewers cannot change anything."),
     ("developer", "vote", "You are not a voting member of this board.")],
)  # fmt: skip
def test_a_refused_role_is_refused_before_the_form_is_read(client, personas, who, path,
                                                           message):  # fmt: skip
    """Empty or not, what is posted is not read: the CR page says why, with a 403."""
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    c = _as(client, getattr(p, who))
    for data in ({}, {"action": "withdraw", "body": "x", "decision": "approve"}):
        response = c.post(f"/changes/{cr.key}/{path}/", data)
        assert response.status_code == 403, data
        assert message in response.content.decode()
        assert "This field is required." not in response.content.decode()
    assert fresh(cr, p.pm).version == cr.version


# ------------------------------------------------------------------ edit and actuals


def test_edit_records_old_and_new_values(client, personas):
    cr = make_cr(personas.project, by=personas.customer, title="旧标题", description="描述")
    c = _as(client, personas.tech_lead)
    form = c.get(f"/changes/{cr.key}/edit/")
    assert form.status_code == 200
    data = {
        "version": fresh(cr, personas.pm).version,
        "title": "新标题",
        "description": "描述",
        "channel": "web",
        "priority": "P3",
    }
    assert c.post(f"/changes/{cr.key}/edit/", data).status_code == 302
    cr = fresh(cr, personas.pm)
    assert (cr.title, cr.priority) == ("新标题", "P3")
    html = c.get(f"/changes/{cr.key}/").content.decode()
    assert "<del>旧标题</del> → <ins>新标题</ins>" in html
    assert "<del>—</del> → <ins>P3 — medium</ins>" in html
    # Field names are capitalised like every other label of the history.
    assert '<span class="tl-field">Priority</span>' in html
    assert '<span class="tl-field">Title</span>' in html
    assert '<span class="tl-field">priority</span>' not in html
    # An edit based on a stale version is refused with 412 and changes nothing.
    data["title"] = "又一个标题"
    response = c.post(f"/changes/{cr.key}/edit/", data)
    assert response.status_code == 412
    assert "changed by someone else" in response.content.decode()
    assert fresh(cr, personas.pm).title == "新标题"


def test_edit_with_bad_input_is_400(client, personas):
    cr = make_cr(personas.project, by=personas.customer)
    c = _as(client, personas.customer)
    data = {"version": 1, "title": "", "description": "x", "channel": "nope"}
    assert c.post(f"/changes/{cr.key}/edit/", data).status_code == 400


def test_actuals_are_recorded_during_implementation(client, personas):
    cr = advance(make_cr(personas.project, by=personas.customer), personas, "implementing")
    dev = _as(client, personas.developer)
    html = dev.get(f"/changes/{cr.key}/").content.decode()
    assert 'action="/changes/ACME-1/actuals/"' in html
    version = fresh(cr, personas.pm).version
    response = dev.post(
        f"/changes/{cr.key}/actuals/", {"version": version, "actual_effort_hours": "-1"}
    )
    assert response.status_code == 400
    response = dev.post(
        f"/changes/{cr.key}/actuals/", {"version": version, "actual_effort_hours": "36.5"}
    )
    assert response.status_code == 302
    assert str(fresh(cr, personas.pm).actual_effort_hours) == "36.50"
    # The customer cannot.
    response = _as(client, personas.customer).post(
        f"/changes/{cr.key}/actuals/", {"version": version + 1, "actual_effort_hours": "1"}
    )
    assert response.status_code == 403


# ------------------------------------------------------------------ comments


def test_internal_comments_are_hidden_from_customers(client, personas):
    cr = make_cr(personas.project, by=personas.customer)
    pm = _as(client, personas.pm)
    assert (
        pm.post(f"/changes/{cr.key}/comments/", {"body": "报价偏低", "internal": "on"}).status_code
        == 302
    )
    assert pm.post(f"/changes/{cr.key}/comments/", {"body": "已收到"}).status_code == 302
    html = pm.get(f"/changes/{cr.key}/").content.decode()
    assert "报价偏低" in html and "comment-internal" in html
    for who in ("customer", "customer_rep"):
        html = _as(client, getattr(personas, who)).get(f"/changes/{cr.key}/").content.decode()
        assert "报价偏低" not in html, who
        assert "已收到" in html
        assert 'name="internal"' not in html


def test_comment_errors(client, personas):
    cr = make_cr(personas.project, by=personas.customer)
    assert (
        _as(client, personas.pm).post(f"/changes/{cr.key}/comments/", {"body": " "}).status_code
        == 400
    )
    customer = _as(client, personas.customer)
    response = customer.post(f"/changes/{cr.key}/comments/", {"body": "x", "internal": "on"})
    assert response.status_code == 403
    viewer = _as(client, personas.viewer)
    assert viewer.post(f"/changes/{cr.key}/comments/", {"body": "x"}).status_code == 403


# ------------------------------------------------------------------ attachments


def test_attachment_upload_and_download(client, personas):
    cr = make_cr(personas.project, by=personas.customer)
    c = _as(client, personas.customer)
    upload = SimpleUploadedFile("需求说明.txt", "第一行\n".encode(), content_type="text/plain")
    assert c.post(f"/changes/{cr.key}/attachments/", {"file": upload}).status_code == 302
    attachment = selectors.attachment_list(user=personas.customer, cr=fresh(cr, personas.pm)).get()
    url = f"/changes/{cr.key}/attachments/{attachment.pk}/"
    assert url in c.get(f"/changes/{cr.key}/").content.decode()
    response = _as(client, personas.viewer).get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == "第一行\n".encode()
    assert _as(client, personas.outsider).get(url).status_code == 404
    assert _as(client, personas.pm).get(f"/changes/{cr.key}/attachments/999/").status_code == 404
    attachment.file.storage.delete(attachment.file.name)  # lost from storage: 404, not 500
    assert _as(client, personas.pm).get(url).status_code == 404


def test_attachment_errors(client, personas, settings):
    cr = make_cr(personas.project, by=personas.customer)
    c = _as(client, personas.customer)
    url = f"/changes/{cr.key}/attachments/"
    assert c.post(url, {}).status_code == 400
    html = SimpleUploadedFile("x.html", b"<script>", content_type="text/html")
    assert c.post(url, {"file": html}).status_code == 400
    fake = SimpleUploadedFile("x.pdf", b"not a pdf", content_type="application/pdf")
    assert c.post(url, {"file": fake}).status_code == 400
    settings.ATTACHMENT_MAX_BYTES = 10
    big = SimpleUploadedFile("big.txt", b"x" * 11, content_type="text/plain")
    response = c.post(url, {"file": big})
    assert response.status_code == 413
    assert "larger than the limit" in response.content.decode()


# ------------------------------------------------------------------ assessment


def test_assessment_form_creates_a_version_with_risks(client, personas):
    cr = make_cr(personas.project, by=personas.customer, submit=True)
    c = _as(client, personas.tech_lead)
    data = {
        "method": "expert",
        "effort_hours": "40",
        "schedule_days": "5",
        "cost": "12000",
        "currency": "cny",
        "notes": "",
        "resources-TOTAL_FORMS": "2",
        "resources-INITIAL_FORMS": "0",
        "resources-0-role": "后端",
        "resources-0-hours": "30",
        "resources-1-role": "",
        "resources-1-hours": "",
        "risks-TOTAL_FORMS": "2",
        "risks-INITIAL_FORMS": "0",
        "risks-0-description": "短信网关配额不足",
        "risks-0-probability": "0.3",
        "risks-0-impact": "3",
        "risks-0-mitigation": "",
        "risks-0-owner": "",
        "risks-1-description": "",
        "risks-1-probability": "",
        "risks-1-impact": "",
    }
    assert c.post(f"/changes/{cr.key}/assessment/", data).status_code == 302
    assessment = selectors.assessment_list(user=personas.pm, cr=fresh(cr, personas.pm)).first()
    assert (assessment.version, assessment.currency, assessment.method) == (1, "CNY", "expert")
    assert assessment.resources == [{"role": "后端", "hours": "30"}]
    assert [r.description for r in assessment.risks.all()] == ["短信网关配额不足"]
    # The form opens with the current version's values.
    page = c.get(f"/changes/{cr.key}/assessment/").content.decode()
    assert "短信网关配额不足" in page and "version 2" in page
    # A risk without probability, a negative cost: 400 and nothing saved.
    bad = {**data, "risks-0-probability": "", "cost": "-5"}
    assert c.post(f"/changes/{cr.key}/assessment/", bad).status_code == 400
    bad = {**data, "risks-0-probability": "1.5"}
    assert c.post(f"/changes/{cr.key}/assessment/", bad).status_code == 400
    assert selectors.assessment_list(user=personas.pm, cr=fresh(cr, personas.pm)).count() == 1


def test_assessment_in_a_closed_state_is_409(client, personas):
    cr = advance(make_cr(personas.project, by=personas.customer), personas, "approved")
    data = {
        "method": "manual",
        "currency": "CNY",
        **{f"{p}-{n}_FORMS": "0" for p in ("resources", "risks") for n in ("TOTAL", "INITIAL")},
    }
    response = _as(client, personas.pm).post(f"/changes/{cr.key}/assessment/", data)
    assert response.status_code == 409


# ------------------------------------------------------------------ votes


def test_vote_needs_the_password_and_applies_the_verdict(client, personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    url = f"/changes/{cr.key}/vote/"
    rep = _as(client, p.customer_rep)
    response = rep.post(url, {"decision": "approve", "password": "wrong"})
    assert response.status_code == 403
    assert "the vote was not signed" in response.content.decode()
    assert rep.post(url, {"decision": "maybe", "password": PASSWORD}).status_code == 400
    assert rep.post(url, {"decision": "approve"}).status_code == 400
    assert rep.post(url, {"decision": "approve", "password": PASSWORD}).status_code == 302
    # Not on the board: 403.
    dev = _as(client, p.developer)
    assert dev.post(url, {"decision": "approve", "password": PASSWORD}).status_code == 403
    for voter in (p.pm, p.qa):
        c = _as(client, voter)
        assert (
            c.post(
                url, {"decision": "approve", "password": PASSWORD, "comment": "同意"}
            ).status_code
            == 302
        )
    assert fresh(cr, p.pm).state == "approved"
    html = _as(client, p.pm).get(f"/changes/{cr.key}/").content.decode()
    assert "tl-cr-decided" in html
    # Nothing left to vote on: 409.
    response = _as(client, p.tech_lead).post(url, {"decision": "approve", "password": PASSWORD})
    assert response.status_code == 409


def test_votes_share_the_sign_in_rate_limit(client, personas, settings):
    settings.SIGNIN_MAX_FAILURES = 2
    cr = advance(make_cr(personas.project, by=personas.customer), personas, "in_review")
    c = _as(client, personas.qa)
    for _ in range(2):
        c.post(f"/changes/{cr.key}/vote/", {"decision": "approve", "password": "nope"})
    response = c.post(f"/changes/{cr.key}/vote/", {"decision": "approve", "password": PASSWORD})
    assert response.status_code == 429


def test_assessment_notes_are_internal(client, personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    complete_assessment(cr, by=p.tech_lead, notes="内部成本说明：外包单价 800 元/小时")
    url = f"/changes/{cr.key}/"
    assert "外包单价" in _as(client, p.qa).get(url).content.decode()
    for user in (p.customer, p.customer_rep):
        page = _as(client, user).get(url).content.decode()
        assert "外包单价" not in page
        assert "40" in page  # the assessment itself is shown, only its notes are not


def test_edit_form_sets_the_assignee_for_managers_only(client, personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    c = _as(client, p.tech_lead)
    html = c.get(f"/changes/{cr.key}/edit/").content.decode()
    assert 'name="assignee"' in html
    choices = re.findall(
        r'<option value="([^"]*)"', html.split('name="assignee"')[1].split("</select>")[0]
    )
    # Team members only: no viewer, no customer roles.
    assert p.developer.username in choices and p.viewer.username not in choices
    assert p.customer.username not in choices and p.customer_rep.username not in choices
    data = {
        "version": fresh(cr, p.pm).version, "title": cr.title, "description": cr.description,
        "channel": "web", "assignee": p.developer.username,
    }  # fmt: skip
    assert c.post(f"/changes/{cr.key}/edit/", data).status_code == 302
    assert fresh(cr, p.pm).assignee == p.developer
    page = c.get(f"/changes/{cr.key}/").content.decode()
    assert f"<dt>Assignee</dt><dd>{p.developer}</dd>" in page
    assert '<span class="tl-field">Assignee</span>' in page
    # A value outside the choices is a 400 naming nothing saved.
    data.update(version=fresh(cr, p.pm).version, assignee=p.viewer.username)
    assert c.post(f"/changes/{cr.key}/edit/", data).status_code == 400
    assert fresh(cr, p.pm).assignee == p.developer
    # Cleared with the empty choice.
    data["assignee"] = ""
    assert c.post(f"/changes/{cr.key}/edit/", data).status_code == 302
    assert fresh(cr, p.pm).assignee is None


def test_requester_editing_a_draft_sees_no_assignee_field(client, personas):
    cr = make_cr(personas.project, by=personas.customer)
    html = _as(client, personas.customer).get(f"/changes/{cr.key}/edit/").content.decode()
    assert 'name="assignee"' not in html


# ------------------------------------------------------------------ query count


def _populated_cr(p, n: int, shared: str):
    """A CR in review with ``n`` of everything its page shows: affected requirements (and
    ``shared``, which the other such CR touches too: a conflict), change set edits (modify,
    and add under a parent), risks, comments, attachments, expert estimates, votes (one
    changed), communications, simulation runs, audit events and similar CRs."""
    from django.utils import timezone

    from changeflow.comms import services as comms
    from changeflow.impact import plans
    from changeflow.impact import services as impact
    from changeflow.requirements import changesets
    from changeflow.requirements import services as requirements
    from tests.impact.test_plan_web import setup_plan

    reqs = [
        requirements.requirement_create(user=p.pm, project=p.project, title=f"需求 {n}-{i}")
        for i in range(n)
    ]
    similar = [
        make_cr(p.project, by=p.customer, title=f"登录页面短信验证码 {n}-{i}") for i in range(n)
    ]
    cr = make_cr(p.project, by=p.customer, title=f"登录页面需要支持短信验证码 ({n})",
                 affected_requirements=[shared, *(r.key for r in reqs)])  # fmt: skip
    from changeflow.changes import links

    for i, other in enumerate(similar):  # links both ways, of each kind
        kind = ("relates_to", "depends_on", "replaces", "duplicates")[i % 4]
        source, target = (cr, other) if i % 2 else (other, cr)
        links.link_create(user=p.pm, cr=source, kind=kind, target=target.key)
    cr = advance(cr, p, "assessing")
    for r in reqs:
        changesets.edit_create(user=p.tech_lead, cr=fresh(cr, p.tech_lead), op="modify",
                               requirement=r.key, fields={"text": f"{r.title} 修改"})  # fmt: skip
        changesets.edit_create(user=p.tech_lead, cr=fresh(cr, p.tech_lead), op="add",
                               fields={"title": f"{r.title} 子项", "parent": r.key})  # fmt: skip
    risks = [{"description": f"风险 {i}", "probability": "0.3", "impact": 3} for i in range(n)]
    complete_assessment(cr, by=p.tech_lead, risks=risks)
    for user in (p.pm, p.tech_lead, p.qa, p.developer)[:n]:
        impact.expert_estimate_submit(user=user, cr=fresh(cr, user), effort=["8", "10", "16"])
    cr = services.change_request_transition(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="request_review"
    )
    # Drafted after the assessment: the saved impact analysis differs from the live one.
    changesets.edit_create(user=p.tech_lead, cr=fresh(cr, p.tech_lead), op="add",
                           fields={"title": "评审中新增的需求"})  # fmt: skip
    for i in range(n):
        services.comment_create(user=p.pm, cr=fresh(cr, p.pm), body=f"评论 {i}",
                                internal=i % 2 == 1)  # fmt: skip
        services.attachment_create(user=p.customer, cr=fresh(cr, p.customer),
                                   upload=SimpleUploadedFile(f"附件{i}.txt", b"text"))  # fmt: skip
        comms.communication_create(user=p.pm, project=p.project, channel="phone",
                                   occurred_at=timezone.now(), summary=f"电话 {i}",
                                   change_requests=[cr.key])  # fmt: skip
    voters = [(p.qa, "approve"), (p.qa, "reject"), (p.tech_lead, "abstain")][: 1 if n == 1 else 3]
    for voter, decision in voters:
        services.vote_cast(user=voter, cr=fresh(cr, voter), decision=decision, password=PASSWORD)
    setup_plan(p, cr=fresh(cr, p.pm))
    for _i in range(n):
        plans.simulation_start(user=p.pm, project=p.project, cr=fresh(cr, p.pm), iterations=200)
    cr = fresh(cr, p.pm)
    assert cr.state == "in_review"
    return cr


# Session, user, the CR, its assessment and its risks, role, chair (7); the board panel:
# voting snapshot, members, votes (3); history; the requirements panel: change set (3),
# touched requirements (2), impact analysis, saved analysis, conflicts (3); the nav's
# counts, unread notifications and votes pending (1, tests/web/test_nav.py); similar CRs (the
# pool's check); comments, communications (2), watch, attachments. For the team also the
# simulation panel (3), the requirement choices of the change set form and the estimates
# (rounds 2, calibration), and the improvement actions that name the CR (1; internal: none for
# customers). For everyone the change order panel (1) and the links panel (1).
DETAIL_QUERIES = {"pm": 38, "customer": 30, "admin": 38}
# On PostgreSQL the impact analysis runs in a savepoint that sets its planner options (and
# releases it): three statements more (requirements.impact).
POSTGRES_IMPACT_STATEMENTS = 3


@pytest.mark.parametrize("who", sorted(DETAIL_QUERIES))
def test_detail_query_count_does_not_grow_with_related_rows(
    client, personas, django_assert_num_queries, who
):
    """The CR page reads in a fixed number of queries however many requirements, change set
    edits, risks, comments, attachments, estimates, votes, communications, simulation runs,
    audit events, conflicting and similar CRs it has (no N+1): the same for a CR with one of
    each as for one with five, for the team, a customer and a site admin."""
    from django.db import connection

    from changeflow.requirements import services as requirements

    expected = DETAIL_QUERIES[who]
    if connection.vendor == "postgresql":
        expected += POSTGRES_IMPACT_STATEMENTS
    p = personas
    shared = requirements.requirement_create(user=p.pm, project=p.project, title="共享需求")
    small = _populated_cr(p, 1, shared.key)
    big = _populated_cr(p, 5, shared.key)
    cl = _as(client, getattr(p, who))
    for cr in (small, big):
        cl.get(f"/changes/{cr.key}/")  # warm the per-project caches (similar CRs' pool, ...)
        with django_assert_num_queries(expected):
            response = cl.get(f"/changes/{cr.key}/")
        assert response.status_code == 200
    html = response.content.decode()
    assert "评论 4" in html and "附件4.txt" in html and small.key in html  # rows, conflict
    assert html.count('class="badge state state-') >= 5  # the links panel's rows


def test_dates_read_the_same_day_in_every_language(client, personas):
    """English short dates are ISO 8601 (not the American 12/07/2026, which reads as two
    different days); Chinese keeps 2026年12月7日."""
    cr = make_cr(personas.project, by=personas.pm)
    ChangeRequest.objects.filter(pk=cr.pk).update(requested_at=dt.date(2026, 3, 4))
    _as(client, personas.pm)
    english = client.get(f"/changes/{cr.key}/", headers={"Accept-Language": "en"})
    assert "2026-03-04" in english.content.decode()
    assert "03/04/2026" not in english.content.decode()
    listing = client.get("/projects/ACME/", headers={"Accept-Language": "en"}).content.decode()
    assert not re.search(r"\b\d\d/\d\d/\d{4}\b", listing)
    chinese = client.get(f"/changes/{cr.key}/", headers={"Accept-Language": "zh-hans"})
    assert "2026年3月4日" in chinese.content.decode()
