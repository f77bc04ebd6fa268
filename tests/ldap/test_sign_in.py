"""Signing in with a real OpenLDAP directory: the web form, the API's token endpoint, the
audit of each sign-in and refusal, the directory down, and the password page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from changeflow.accounts.models import User
from changeflow.core.models import AuditEvent
from tests.api.conftest import error_of
from tests.factories import PASSWORD, make_user
from tests.ldap import servers

pytestmark = pytest.mark.django_db

DOWN = "cannot be reached, so directory accounts cannot sign in right now"
WRONG = "The username or the password is wrong."


def sign_in(username: str, password: str, client: Client | None = None):
    client = client or Client()
    response = client.post(reverse("login"), {"username": username, "password": password})
    return client, response


def last_event(action: str) -> AuditEvent:
    event = AuditEvent.objects.filter(action=action).order_by("-seq").first()
    assert event is not None, action
    return event


def test_first_sign_in_creates_the_user_from_the_directory(directory):
    client, response = sign_in("wanglei", servers.PASSWORDS["wanglei"])
    assert response.status_code == 302
    user = User.objects.get(username="wanglei")
    assert user.display_name == "王磊"
    assert user.email == "wang.lei@acme.test"
    assert user.directory_dn == "uid=wanglei," + servers.PEOPLE
    assert not user.has_usable_password()
    assert not user.memberships.exists() and not user.is_superuser
    # Signed in: a page behind the sign-in answers.
    assert client.get(reverse("project-list")).status_code == 200
    created = last_event("user.created")
    assert created.object_key == "wanglei" and created.after["directory"] == user.directory_dn
    signed_in = last_event("user.signed_in")
    assert (signed_in.actor, signed_in.after, signed_in.channel) == (
        "wanglei",
        {"via": "directory"},
        "web",
    )


def test_later_sign_ins_refresh_the_name_and_e_mail(directory):
    sign_in("alice", servers.PASSWORDS["alice"])
    User.objects.filter(username="alice").update(display_name="Old name", email="old@acme.test")
    _, response = sign_in("alice", servers.PASSWORDS["alice"])
    assert response.status_code == 302
    user = User.objects.get(username="alice")
    assert (user.display_name, user.email) == ("Alice Smith", "alice@acme.test")
    updated = last_event("user.updated")
    assert updated.before == {"display_name": "Old name", "email": "old@acme.test"}
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_a_name_typed_in_other_case_is_the_same_user(directory):
    sign_in("alice", servers.PASSWORDS["alice"])
    _, response = sign_in("ALICE", servers.PASSWORDS["alice"])
    assert response.status_code == 302
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_an_entry_without_e_mail_signs_in_with_none(directory):
    _, response = sign_in("dave", servers.PASSWORDS["dave"])
    assert response.status_code == 302
    dave = User.objects.get(username="dave")
    assert (dave.display_name, dave.email) == ("Dave Brown", "")  # cn: no displayName


def test_wrong_password_is_refused_and_audited(directory):
    _, response = sign_in("alice", "not-her-password")
    assert response.status_code == 400
    assert WRONG in response.content.decode()
    assert not User.objects.filter(username="alice").exists()
    failed = last_event("user.sign_in_failed")
    assert (failed.object_key, failed.actor) == ("alice", "")
    assert failed.after == {"via": "directory", "reason": "wrong_password"}
    assert "not-her-password" not in str(failed.after) + str(failed.before)


def test_an_empty_password_is_never_an_anonymous_bind(directory):
    from changeflow.accounts import directory as ldap

    with pytest.raises(ldap.Refused):
        ldap.authenticate(directory.config, "alice", "")
    # The form itself requires a password: nothing reaches the directory.
    _, response = sign_in("alice", "")
    assert response.status_code == 400
    assert not User.objects.filter(username="alice").exists()


def test_unknown_user_is_refused(directory):
    _, response = sign_in("nobody", "whatever-1")
    assert response.status_code == 400 and WRONG in response.content.decode()
    assert last_event("user.sign_in_failed").after == {"via": "directory", "reason": "not_found"}


def test_filter_characters_in_a_name_are_escaped(directory):
    _, response = sign_in("*", servers.PASSWORDS["alice"])
    assert response.status_code == 400
    assert last_event("user.sign_in_failed").after["reason"] == "not_found"


def test_user_outside_the_required_group_is_refused(directory):
    _, response = sign_in("carol", servers.PASSWORDS["carol"])
    assert response.status_code == 400 and WRONG in response.content.decode()
    assert not User.objects.filter(username="carol").exists()
    assert last_event("user.sign_in_failed").after == {
        "via": "directory", "reason": "not_in_group"
    }  # fmt: skip


def test_without_a_required_group_everyone_under_the_base_signs_in(
    slapd_server, settings, monkeypatch
):
    from tests.ldap.conftest import use_directory

    use_directory(slapd_server, settings, monkeypatch, CHANGEFLOW_LDAP_REQUIRE_GROUP=None)
    _, response = sign_in("carol", servers.PASSWORDS["carol"])
    assert response.status_code == 302


def test_anonymous_search_where_the_directory_forbids_it_is_a_fault(
    slapd_server, settings, monkeypatch
):
    """The test directory lets only its service account search: an anonymous search answers
    insufficientAccessRights, a fault of the set-up (503, logged), not a wrong password."""
    from tests.ldap.conftest import use_directory

    use_directory(
        slapd_server, settings, monkeypatch,
        CHANGEFLOW_LDAP_BIND_DN=None, CHANGEFLOW_LDAP_BIND_PASSWORD=None,
    )  # fmt: skip
    assert settings.CHANGEFLOW_LDAP["bind_dn"] == ""
    _, response = sign_in("alice", servers.PASSWORDS["alice"])
    assert response.status_code == 503
    assert last_event("user.sign_in_failed").after["reason"] == "unavailable"


def test_a_user_whose_entry_is_gone_is_refused(directory, slapd_server):
    admin = slapd_server.admin()
    dn = "uid=erin," + servers.PEOPLE
    admin.add(dn, ["inetOrgPerson"], {"cn": "Erin", "sn": "E", "userPassword": "erin-pw-1"})
    admin.modify(servers.GROUP, {"member": [("MODIFY_ADD", [dn])]})
    try:
        assert sign_in("erin", "erin-pw-1")[1].status_code == 302
    finally:
        admin.modify(servers.GROUP, {"member": [("MODIFY_DELETE", [dn])]})
        admin.delete(dn)
        admin.unbind()
    _, response = sign_in("erin", "erin-pw-1")
    assert response.status_code == 400
    assert last_event("user.sign_in_failed").after["reason"] == "not_found"
    assert User.objects.get(username="erin").from_directory  # kept: their history stays theirs


def test_a_deactivated_directory_user_is_refused(directory):
    sign_in("alice", servers.PASSWORDS["alice"])
    User.objects.filter(username="alice").update(is_active=False)
    _, response = sign_in("alice", servers.PASSWORDS["alice"])
    assert response.status_code == 400
    assert last_event("user.sign_in_failed").after["reason"] == "inactive"


def test_a_directory_user_cannot_use_a_local_password(directory):
    sign_in("alice", servers.PASSWORDS["alice"])
    alice = User.objects.get(username="alice")
    alice.set_password(PASSWORD)  # as an admin page or a shell could
    alice.save()
    _, response = sign_in("alice", PASSWORD)
    assert response.status_code == 400
    assert last_event("user.sign_in_failed").after["reason"] == "wrong_password"
    assert sign_in("alice", servers.PASSWORDS["alice"])[1].status_code == 302


def test_the_directory_never_takes_a_local_account_over(directory):
    """The directory has an "admin" too: the local admin keeps their account, and the
    directory's password does not open it."""
    make_user("admin", admin=True)
    _, response = sign_in("admin", "directory-admin-pw-1")
    assert response.status_code == 400
    admin = User.objects.get(username="admin")
    assert admin.directory_dn == "" and admin.check_password(PASSWORD)
    assert last_event("user.sign_in_failed").after == {}  # the local backend's refusal
    assert sign_in("admin", PASSWORD)[1].status_code == 302


def test_local_accounts_sign_in_as_before(directory):
    make_user("local", email="local@acme.test")
    _, response = sign_in("local", PASSWORD)
    assert response.status_code == 302
    assert last_event("user.signed_in").after == {}


def test_directory_down_the_page_says_so_and_a_local_admin_gets_in(dead_directory):
    make_user("siteadmin", admin=True)
    _, response = sign_in("alice", servers.PASSWORDS["alice"])
    assert response.status_code == 503
    page = response.content.decode()
    assert DOWN in page and WRONG not in page
    assert last_event("user.sign_in_failed").after == {"via": "directory", "reason": "unavailable"}
    client, response = sign_in("siteadmin", PASSWORD)
    assert response.status_code == 302
    assert client.get(reverse("project-list")).status_code == 200


def test_directory_down_in_chinese(dead_directory):
    client = Client(headers={"accept-language": "zh-hans"})
    _, response = sign_in("alice", "x-pw-1", client)
    assert response.status_code == 503
    assert "组织目录" in response.content.decode()


def test_directory_down_is_logged_with_its_cause(dead_directory, caplog):
    with caplog.at_level("WARNING", logger="changeflow.accounts.backends"):
        sign_in("alice", servers.PASSWORDS["alice"])
    assert any("cannot be reached" in r.getMessage() for r in caplog.records)


def test_a_service_account_refused_is_a_fault_not_a_wrong_password(
    slapd_server, settings, monkeypatch, caplog
):
    from tests.ldap.conftest import use_directory

    use_directory(slapd_server, settings, monkeypatch, CHANGEFLOW_LDAP_BIND_PASSWORD="wrong")
    with caplog.at_level("WARNING", logger="changeflow.accounts.backends"):
        _, response = sign_in("alice", servers.PASSWORDS["alice"])
    assert response.status_code == 503 and DOWN in response.content.decode()
    assert any("refuses the service account" in r.getMessage() for r in caplog.records)


def test_the_sign_in_page_mentions_the_directory_only_when_on(directory, settings):
    assert "LDAP / Active Directory" in Client().get(reverse("login")).content.decode()
    settings.CHANGEFLOW_LDAP = None
    assert "LDAP / Active Directory" not in Client().get(reverse("login")).content.decode()


def test_off_nothing_changes(settings):
    settings.CHANGEFLOW_LDAP = None
    _, response = sign_in("alice", servers.PASSWORDS["alice"])
    assert response.status_code == 400
    assert last_event("user.sign_in_failed").after == {}


# ------------------------------------------------------------------ the API's token endpoint


def test_api_token_with_the_directory_password(directory, api):
    response = api().post(
        "/api/v1/auth/token/",
        {"username": "wanglei", "password": servers.PASSWORDS["wanglei"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    me = api().get("/api/v1/me/", HTTP_AUTHORIZATION="Token " + response.json()["token"])
    assert me.status_code == 200 and me.json()["username"] == "wanglei"
    created = last_event("user.created")
    assert (created.channel, created.object_key) == ("api", "wanglei")


def test_api_token_wrong_password_is_400(directory, api):
    response = api().post(
        "/api/v1/auth/token/", {"username": "alice", "password": "nope-1"}, format="json"
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_credentials"


def test_api_token_directory_down_is_503(dead_directory, api):
    response = api().post(
        "/api/v1/auth/token/", {"username": "alice", "password": "x-pw-1"}, format="json"
    )
    assert response.status_code == 503
    assert error_of(response)["code"] == "directory_unavailable"
    assert DOWN in error_of(response)["message"]


# ------------------------------------------------------------------ the password page


def test_password_page_of_a_directory_user_has_no_form(directory):
    client, _ = sign_in("alice", servers.PASSWORDS["alice"])
    page = client.get(reverse("password-change"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "managed by your organisation&#x27;s directory" in text
    assert 'name="new_password"' not in text
    posted = client.post(
        reverse("password-change"),
        {"old_password": "x", "new_password": "Another-pw-42", "new_password2": "Another-pw-42"},
    )
    assert posted.status_code == 409
    alice = User.objects.get(username="alice")
    assert not alice.has_usable_password()
    assert not AuditEvent.objects.filter(action="user.password_changed").exists()


def test_with_the_directory_off_a_directory_user_may_get_a_local_password(directory, settings):
    sign_in("alice", servers.PASSWORDS["alice"])
    settings.CHANGEFLOW_LDAP = None
    alice = User.objects.get(username="alice")
    alice.set_password(PASSWORD)  # changeflow changepassword alice
    alice.save()
    client, response = sign_in("alice", PASSWORD)
    assert response.status_code == 302
    page = client.get(reverse("password-change"))
    assert 'name="new_password"' in page.content.decode()


def test_password_page_of_a_local_user_keeps_its_form(directory):
    make_user("local")
    client, _ = sign_in("local", PASSWORD)
    page = client.get(reverse("password-change"))
    assert page.status_code == 200 and 'name="new_password"' in page.content.decode()


def test_password_page_needs_a_sign_in(directory):
    response = Client().get(reverse("password-change"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
