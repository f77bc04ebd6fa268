"""The directory over TLS: LDAPS and StartTLS against slapd serving a certificate made for the
run, verified with CHANGEFLOW_LDAP_CA_FILE; an untrusted certificate is a fault, never a
silent fallback to an unverified connection."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from changeflow.accounts.models import User
from tests.cli.conftest import one_line
from tests.ldap import servers
from tests.ldap.conftest import use_directory

pytestmark = pytest.mark.django_db


def sign_in(username: str):
    return Client().post(
        reverse("login"), {"username": username, "password": servers.PASSWORDS[username]}
    )


def test_ldaps_with_the_ca_file(slapd_server, settings, monkeypatch):
    use_directory(
        slapd_server, settings, monkeypatch,
        CHANGEFLOW_LDAP_URL="ldaps://localhost:%d" % slapd_server.tls_port,
        CHANGEFLOW_LDAP_CA_FILE=slapd_server.ca_file,
    )  # fmt: skip
    assert sign_in("wanglei").status_code == 302
    assert User.objects.get(username="wanglei").display_name == "王磊"


def start_tls(server, settings, monkeypatch, **overrides):
    return use_directory(
        server, settings, monkeypatch,
        CHANGEFLOW_LDAP_URL="ldap://localhost:%d" % server.port, CHANGEFLOW_LDAP_START_TLS="true",
        **overrides,
    )  # fmt: skip


def test_start_tls_with_the_ca_file(slapd_server, settings, monkeypatch):
    start_tls(slapd_server, settings, monkeypatch, CHANGEFLOW_LDAP_CA_FILE=slapd_server.ca_file)
    assert sign_in("alice").status_code == 302


def test_ldap_check_says_start_tls(slapd_server, settings, monkeypatch, run_cli):
    start_tls(slapd_server, settings, monkeypatch, CHANGEFLOW_LDAP_CA_FILE=slapd_server.ca_file)
    code, out, err = run_cli("ldap", "check", "--user", "alice")
    assert (code, err) == (0, "")
    assert "(StartTLS)" in out


def test_an_untrusted_certificate_is_refused(slapd_server, settings, monkeypatch, run_cli):
    """Without the CA file, the system's CAs do not know the test certificate."""
    use_directory(
        slapd_server, settings, monkeypatch,
        CHANGEFLOW_LDAP_URL="ldaps://localhost:%d" % slapd_server.tls_port,
    )  # fmt: skip
    response = sign_in("alice")
    assert response.status_code == 503
    assert not User.objects.filter(username="alice").exists()


def test_ldap_check_names_an_untrusted_certificate(slapd_server, settings, monkeypatch, run_cli):
    use_directory(
        slapd_server, settings, monkeypatch,
        CHANGEFLOW_LDAP_URL="ldaps://localhost:%d" % slapd_server.tls_port,
    )  # fmt: skip
    code, out, err = run_cli("ldap", "check")
    assert code == 1
    assert one_line(err).endswith(
        "cannot be reached: socket ssl wrapping error: [SSL: CERTIFICATE_VERIFY_FAILED] "
        "certificate verify failed: self-signed certificate"
    )


def test_start_tls_with_an_untrusted_certificate_is_refused(slapd_server, settings, monkeypatch):
    start_tls(slapd_server, settings, monkeypatch)
    assert sign_in("alice").status_code == 503
