"""The operators' side: ``changeflow ldap check|add``, ``check --deploy``, and settings that
cannot work refused at start-up in one line."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from changeflow.accounts.models import User
from changeflow.core.models import AuditEvent
from tests.cli.conftest import one_line
from tests.factories import make_user
from tests.ldap import servers
from tests.ldap.conftest import directory_env

# ------------------------------------------------------------------ changeflow ldap check


def test_check_binds_and_searches(directory, run_cli):
    code, out, err = run_cli("ldap", "check")
    assert (code, err) == (0, "")
    assert "Bound as: " + servers.SERVICE_DN in out
    assert "Search base: " + servers.PEOPLE in out
    assert "Required group: " + servers.GROUP in out


def test_check_shows_a_user(directory, run_cli):
    code, out, err = run_cli("ldap", "check", "--user", "wanglei")
    assert (code, err) == (0, "")
    assert "Entry: uid=wanglei," + servers.PEOPLE in out
    assert "Display name: 王磊" in out
    assert "E-mail: wang.lei@acme.test" in out
    assert "In the required group: yes" in out


def test_check_unknown_user_fails_in_one_line(directory, run_cli):
    code, out, err = run_cli("ldap", "check", "--user", "nobody")
    assert code == 1
    assert one_line(err) == (
        "changeflow: nobody is not in the directory (or not under the search base)"
    )


def test_check_user_outside_the_group_fails(directory, run_cli):
    code, out, err = run_cli("ldap", "check", "--user", "carol")
    assert code == 1
    assert "In the required group: no" in out
    assert "carol is not in the group" in one_line(err)


def test_check_directory_down_fails_in_one_line(dead_directory, run_cli):
    code, out, err = run_cli("ldap", "check")
    assert code == 1
    assert "cannot be reached" in one_line(err)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"CHANGEFLOW_LDAP_BIND_PASSWORD": "nope"}, "refuses the service account"),
        ({"CHANGEFLOW_LDAP_SEARCH_BASE": "ou=nowhere," + servers.BASE}, "the search base ou=nowh"),
        ({"CHANGEFLOW_LDAP_REQUIRE_GROUP": "cn=nogroup," + servers.BASE}, "the group cn=nogroup"),
    ],
)
def test_check_names_what_is_wrong(
    slapd_server, settings, monkeypatch, run_cli, overrides, message
):
    from tests.ldap.conftest import use_directory

    use_directory(slapd_server, settings, monkeypatch, **overrides)
    code, out, err = run_cli("ldap", "check")
    assert code == 1
    assert message in one_line(err)


def test_not_configured(settings, run_cli):
    settings.CHANGEFLOW_LDAP = None
    code, out, err = run_cli("ldap", "check")
    assert code == 1
    assert "set CHANGEFLOW_LDAP_URL" in one_line(err)


def test_usage_errors_exit_2(directory, run_cli):
    code, out, err = run_cli("ldap")
    assert code == 2 and one_line(err)
    code, out, err = run_cli("ldap", "add")
    assert code == 2 and one_line(err)


# ------------------------------------------------------------------ changeflow ldap add


@pytest.mark.django_db
def test_add_creates_the_user_before_their_first_sign_in(directory, run_cli):
    code, out, err = run_cli("ldap", "add", "wanglei")
    assert (code, err) == (0, "")
    assert out.strip() == ("Created user wanglei from the directory (王磊, wang.lei@acme.test).")
    user = User.objects.get(username="wanglei")
    assert user.from_directory and not user.has_usable_password()
    event = AuditEvent.objects.get(action="user.created", object_key="wanglei")
    assert event.channel == "cli"
    # A second time: nothing new.
    code, out, err = run_cli("ldap", "add", "wanglei")
    assert code == 0 and "up to date" in out
    assert User.objects.filter(username__iexact="wanglei").count() == 1


@pytest.mark.django_db
def test_added_user_can_be_made_a_member_then_signs_in(directory, run_cli, personas):
    from django.test import Client

    from changeflow.accounts import services

    run_cli("ldap", "add", "alice")
    services.membership_set(
        user=personas.pm, project=personas.project, username="alice", role="developer"
    )
    client = Client()
    response = client.post(
        "/signin/", {"username": "alice", "password": servers.PASSWORDS["alice"]}
    )
    assert response.status_code == 302
    assert client.get("/projects/%s/" % personas.project.key).status_code == 200


@pytest.mark.django_db
def test_add_refuses_outside_the_group_unknown_and_local(directory, run_cli):
    code, out, err = run_cli("ldap", "add", "carol")
    assert code == 1 and "carol is not in the group" in one_line(err)
    code, out, err = run_cli("ldap", "add", "nobody")
    assert code == 1 and "nobody is not in the directory" in one_line(err)
    make_user("admin", admin=True)
    code, out, err = run_cli("ldap", "add", "admin")
    assert code == 1 and "admin is a local account" in one_line(err)
    assert not User.objects.filter(username__in=["carol", "nobody"]).exists()
    assert not User.objects.get(username="admin").from_directory


@pytest.mark.django_db
def test_add_with_the_directory_down(dead_directory, run_cli):
    code, out, err = run_cli("ldap", "add", "alice")
    assert code == 1 and "cannot be reached" in one_line(err)
    assert not User.objects.filter(username="alice").exists()


def test_help_lists_the_command(run_cli):
    code, out, err = run_cli("help")
    assert "ldap check|add" in out


# ------------------------------------------------------------------ check --deploy


def test_check_deploy_reports_an_unreachable_directory(dead_directory):
    from django.core import checks

    errors = checks.run_checks(include_deployment_checks=True, tags=["directory"])
    assert [e.id for e in errors] == ["changeflow.E002"]
    assert "cannot be reached" in errors[0].msg


def test_check_deploy_is_quiet_when_the_directory_answers(directory, settings):
    from django.core import checks

    assert checks.run_checks(include_deployment_checks=True, tags=["directory"]) == []
    settings.CHANGEFLOW_LDAP = None
    assert checks.run_checks(include_deployment_checks=True, tags=["directory"]) == []


# ------------------------------------------------------------------ settings


BAD = [
    ({"CHANGEFLOW_LDAP_URL": "http://dc1.example.com"}, "CHANGEFLOW_LDAP_URL must be ldap://"),
    ({"CHANGEFLOW_LDAP_URL": "ldap://"}, "CHANGEFLOW_LDAP_URL must be ldap://"),
    ({"CHANGEFLOW_LDAP_URL": "ldap://host:99999"}, "CHANGEFLOW_LDAP_URL must be ldap://"),
    ({"CHANGEFLOW_LDAP_SEARCH_BASE": ""}, "CHANGEFLOW_LDAP_SEARCH_BASE must be set"),
    ({"CHANGEFLOW_LDAP_SEARCH_BASE": "people"}, "CHANGEFLOW_LDAP_SEARCH_BASE is not a disting"),
    ({"CHANGEFLOW_LDAP_BIND_PASSWORD": ""}, "set both CHANGEFLOW_LDAP_BIND_DN and"),
    ({"CHANGEFLOW_LDAP_USER_FILTER": "uid={username}"}, "CHANGEFLOW_LDAP_USER_FILTER must be"),
    ({"CHANGEFLOW_LDAP_USER_FILTER": "(uid=alice)"}, "CHANGEFLOW_LDAP_USER_FILTER must be"),
    ({"CHANGEFLOW_LDAP_USER_FILTER": "(uid={user})"}, "CHANGEFLOW_LDAP_USER_FILTER must be"),
    ({"CHANGEFLOW_LDAP_USER_FILTER": "(&(uid={username})"}, "CHANGEFLOW_LDAP_USER_FILTER must"),
    ({"CHANGEFLOW_LDAP_NAME_ATTRIBUTE": "display name"}, "CHANGEFLOW_LDAP_NAME_ATTRIBUTE must"),
    ({"CHANGEFLOW_LDAP_EMAIL_ATTRIBUTE": "mail;x"}, "CHANGEFLOW_LDAP_EMAIL_ATTRIBUTE must"),
    ({"CHANGEFLOW_LDAP_TIMEOUT": "soon"}, "CHANGEFLOW_LDAP_TIMEOUT must be"),
    ({"CHANGEFLOW_LDAP_TIMEOUT": "0"}, "CHANGEFLOW_LDAP_TIMEOUT must be"),
    ({"CHANGEFLOW_LDAP_CA_FILE": "/etc/hostname"}, "CHANGEFLOW_LDAP_CA_FILE is set but nothing"),
    (
        {"CHANGEFLOW_LDAP_START_TLS": "true", "CHANGEFLOW_LDAP_CA_FILE": "/nonexistent/ca.pem"},
        "CHANGEFLOW_LDAP_CA_FILE cannot be read",
    ),
    (
        {"CHANGEFLOW_LDAP_URL": "ldaps://dc1.example.com", "CHANGEFLOW_LDAP_START_TLS": "yes"},
        "CHANGEFLOW_LDAP_START_TLS is for ldap:// URLs",
    ),
    (
        {"CHANGEFLOW_LDAP_URL": "ldaps://10.0.0.5"},
        "CHANGEFLOW_LDAP_URL must name the host as its certificate does",
    ),
    ({"CHANGEFLOW_LDAP_REQUIRE_GROUP": "admins"}, "CHANGEFLOW_LDAP_REQUIRE_GROUP is not a"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD)
def test_a_setting_that_cannot_work_is_refused(overrides, message, monkeypatch):
    from changeflow.settings import ldap_directory

    class Fake:
        url = "ldap://dc1.example.com:389"

    for name, value in directory_env(Fake, **overrides).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured) as raised:
        ldap_directory()
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_unset_url_is_off(monkeypatch):
    from changeflow.settings import ldap_directory

    monkeypatch.delenv("CHANGEFLOW_LDAP_URL", raising=False)
    monkeypatch.setenv("CHANGEFLOW_LDAP_SEARCH_BASE", "not even a dn")
    assert ldap_directory() is None


def test_defaults(monkeypatch):
    from changeflow.settings import ldap_directory

    monkeypatch.setenv("CHANGEFLOW_LDAP_URL", "ldap://dc1.example.com")
    monkeypatch.setenv("CHANGEFLOW_LDAP_SEARCH_BASE", "dc=example,dc=com")
    for name in ("BIND_DN", "BIND_PASSWORD", "USER_FILTER", "REQUIRE_GROUP", "TIMEOUT"):
        monkeypatch.delenv("CHANGEFLOW_LDAP_" + name, raising=False)
    config = ldap_directory()
    assert config == {
        "url": "ldap://dc1.example.com", "bind_dn": "", "bind_password": "",
        "search_base": "dc=example,dc=com", "user_filter": "(uid={username})",
        "name_attribute": "displayName", "email_attribute": "mail", "start_tls": False,
        "ca_file": "", "timeout": 5, "require_group": "",
    }  # fmt: skip


@pytest.mark.own_home
def test_a_bad_setting_stops_any_command_at_start_up(sh):
    env = {
        "CHANGEFLOW_LDAP_URL": "ldap://127.0.0.1:389",
        "CHANGEFLOW_LDAP_SEARCH_BASE": "dc=acme,dc=test",
        "CHANGEFLOW_LDAP_TIMEOUT": "forever",
    }
    for command in (["check"], ["migrate"]):
        code, out, err = sh(*command, extra_env=env)
        assert code == 1
        assert one_line(err).startswith(
            "changeflow: configuration error: CHANGEFLOW_LDAP_TIMEOUT must be"
        )
