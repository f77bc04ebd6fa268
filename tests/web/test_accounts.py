"""Sign in and out, password, API tokens, projects and members."""

import pytest

from changeflow.accounts import selectors, services
from changeflow.accounts.models import Membership, Project
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def _as(client, user):
    client.force_login(user)
    return client


def test_sign_in_and_out(client, personas):
    page = client.get("/signin/")
    assert page.status_code == 200
    response = client.post(
        "/signin/",
        {"username": personas.pm.username, "password": PASSWORD, "next": "/projects/ACME/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/projects/ACME/"
    assert client.get("/projects/").status_code == 200
    assert client.get("/signout/").status_code == 405
    assert client.post("/signout/").status_code == 302
    assert client.get("/projects/").status_code == 302


def test_sign_in_refuses_foreign_next_urls(client, personas):
    response = client.post(
        "/signin/",
        {"username": personas.pm.username, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/my-work/"


def test_sign_in_failures_and_rate_limit(client, personas, settings):
    settings.SIGNIN_MAX_FAILURES = 3
    bad = {"username": personas.pm.username, "password": "wrong"}
    for _ in range(3):
        response = client.post("/signin/", bad)
        assert response.status_code == 400
        assert "The username or the password is wrong." in response.content.decode()
    good = {"username": personas.pm.username, "password": PASSWORD}
    response = client.post("/signin/", good)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert client.post("/signin/", {"username": ""}).status_code == 400


def test_password_change(client, personas):
    c = _as(client, personas.developer)
    url = "/account/password/"
    new = "An0ther-long-secret"
    mismatch = {"old_password": PASSWORD, "new_password": new, "new_password_again": "x"}
    assert c.post(url, mismatch).status_code == 400
    wrong = {"old_password": "nope", "new_password": new, "new_password_again": new}
    response = c.post(url, wrong)
    assert response.status_code == 400 and "Wrong password." in response.content.decode()
    weak = {"old_password": PASSWORD, "new_password": "123", "new_password_again": "123"}
    assert c.post(url, weak).status_code == 400
    good = {"old_password": PASSWORD, "new_password": new, "new_password_again": new}
    assert c.post(url, good).status_code == 302
    assert c.get("/projects/").status_code == 200  # still signed in
    personas.developer.refresh_from_db()
    assert personas.developer.check_password(new)


def test_api_tokens_are_shown_once_listed_and_revoked(client, personas):
    c = _as(client, personas.qa)
    response = c.post("/account/tokens/", {"name": "CI 导入脚本"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    token = response.context["new_token"]
    assert token in response.content.decode()
    assert services.token_authenticate(token) == personas.qa
    listing = c.get("/account/tokens/").content.decode()
    assert "CI 导入脚本" in listing and token not in listing
    assert c.post("/account/tokens/", {"name": "x" * 101}).status_code == 400
    row = selectors.token_list(user=personas.qa).get()
    # Somebody else's token does not exist for you.
    assert _as(client, personas.pm).post(f"/account/tokens/{row.pk}/revoke/").status_code == 404
    c = _as(client, personas.qa)
    assert c.post(f"/account/tokens/{row.pk}/revoke/").status_code == 302
    assert services.token_authenticate(token) is None


def test_project_create(client, personas):
    c = _as(client, personas.admin)
    data = {"key": "NEW1", "name": "新项目", "customer": "华东客户", "description": ""}
    response = c.post("/projects/new/", data)
    assert response.status_code == 302 and response["Location"] == "/projects/NEW1/"
    project = Project.objects.get(key="NEW1")
    assert project.customer.name == "华东客户"
    assert c.post("/projects/new/", data).status_code == 400  # the key is taken
    assert c.post("/projects/new/", {**data, "key": "lower"}).status_code == 400
    assert c.post("/projects/new/", {**data, "key": "X"}).status_code == 400
    pm = _as(client, personas.pm)
    assert pm.post("/projects/new/", {**data, "key": "NEW2"}).status_code == 403


def test_project_settings_and_thresholds(client, personas):
    c = _as(client, personas.pm)
    data = {
        "name": "电商平台",
        "description": "",
        "customer": "ACME Corp",
        "currency": "USD",
        "delegate_max_effort_hours": "16",
        "delegate_max_cost": "",
        "delegate_max_schedule_days": "2",
    }
    assert c.post("/projects/ACME/settings/", data).status_code == 302
    project = Project.objects.get(key="ACME")
    assert (project.name, project.currency) == ("电商平台", "USD")
    assert str(project.delegate_max_effort_hours) == "16.00"
    assert c.post("/projects/ACME/settings/", {**data, "currency": "usd1"}).status_code == 400
    bad = {**data, "delegate_max_cost": "-1"}
    assert c.post("/projects/ACME/settings/", bad).status_code == 400
    tl = _as(client, personas.tech_lead)
    assert tl.post("/projects/ACME/settings/", data).status_code == 403


def test_members_add_change_remove(client, personas):
    newcomer = make_user("newcomer")
    c = _as(client, personas.pm)
    assert (
        c.post("/projects/ACME/members/", {"username": "newcomer", "role": "qa"}).status_code == 302
    )
    assert Membership.objects.get(project__key="ACME", user=newcomer).role == "qa"
    response = c.post("/projects/ACME/members/", {"username": "ghost", "role": "qa"})
    assert response.status_code == 400 and "No such user." in response.content.decode()
    assert (
        c.post("/projects/ACME/members/", {"username": "newcomer", "role": "boss"}).status_code
        == 400
    )
    # Adding an existing member again does not change their role silently.
    response = c.post(
        "/projects/ACME/members/", {"username": "newcomer", "role": "project_manager"}
    )
    assert response.status_code == 409
    assert "newcomer is already a member (QA); change the role in the list." in (
        response.content.decode()
    )
    assert Membership.objects.get(project__key="ACME", user=newcomer).role == "qa"
    # The add form preselects no role, and a role must be chosen.
    html = c.get("/projects/ACME/settings/").content.decode()
    add_form = html[html.index('action="/projects/ACME/members/"') :]
    assert '<option value="" selected>Choose a role</option>' in add_form
    response = c.post("/projects/ACME/members/", {"username": "newcomer2", "role": ""})
    assert response.status_code == 400
    assert c.post("/projects/ACME/members/newcomer/", {"role": "developer"}).status_code == 302
    assert Membership.objects.get(project__key="ACME", user=newcomer).role == "developer"
    assert c.post("/projects/ACME/members/newcomer/", {"role": "nope"}).status_code == 400
    assert c.post("/projects/ACME/members/newcomer/", {"remove": "1"}).status_code == 302
    assert not Membership.objects.filter(project__key="ACME", user=newcomer).exists()
    assert c.post("/projects/ACME/members/newcomer/", {"remove": "1"}).status_code == 404
    # The last project manager stays.
    response = c.post(f"/projects/ACME/members/{personas.pm.username}/", {"role": "qa"})
    assert response.status_code == 422
    assert "at least one project manager" in response.content.decode()
    qa = _as(client, personas.qa)
    assert (
        qa.post("/projects/ACME/members/", {"username": "newcomer", "role": "qa"}).status_code
        == 403
    )


def test_a_post_without_csrf_token_gets_the_expired_form_page(personas):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(
        "/signin/", {"username": personas.pm.username, "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "The form has expired" in response.content.decode()


def test_sign_ins_refusals_and_sign_outs_are_audited_without_the_password(client, personas):
    from changeflow.core import audit
    from changeflow.core.models import AuditEvent

    start = AuditEvent.objects.count()
    client.post("/signin/", {"username": personas.pm.username, "password": "wrong-one"})
    client.post("/signin/", {"username": "nobody-here", "password": "x"})
    client.post("/signin/", {"username": personas.pm.username, "password": PASSWORD})
    client.post("/signout/")
    events = list(
        AuditEvent.objects.order_by("seq")[start:].values_list(
            "action", "actor", "object_key", "channel"
        )
    )
    assert events == [
        ("user.sign_in_failed", "", personas.pm.username, "web"),
        ("user.sign_in_failed", "", "nobody-here", "web"),
        ("user.signed_in", personas.pm.username, personas.pm.username, "web"),
        ("user.signed_out", personas.pm.username, personas.pm.username, "web"),
    ]
    stored = AuditEvent.objects.order_by("seq")[start:]
    assert not any("wrong-one" in str(e.before) + str(e.after) for e in stored)
    assert audit.verify().ok
