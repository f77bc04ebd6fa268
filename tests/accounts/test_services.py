"""Users, projects, memberships and tokens."""

from __future__ import annotations

import pytest

from changeflow.accounts import services
from changeflow.accounts.models import ApiToken, Membership, Project
from changeflow.core import audit
from changeflow.core.errors import NotFound, PermissionDenied, PreconditionFailed, ValidationError
from changeflow.core.models import AuditEvent
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_user_create_and_duplicate_usernames_case_insensitive():
    user = services.user_create(username="Alice", password=PASSWORD, email="a@example.com")
    assert user.check_password(PASSWORD)
    assert AuditEvent.objects.filter(action="user.created", object_key="Alice").exists()
    for name in ("Alice", "alice", "ALICE"):
        with pytest.raises(ValidationError) as err:
            services.user_create(username=name, password=PASSWORD)
        assert "username" in err.value.fields
    assert not PASSWORD in str(list(AuditEvent.objects.values_list("after", flat=True)))  # noqa: E713


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "alice_smith1"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError) as err:
        services.user_create(username="alice_smith", password=password)
    assert "password" in err.value.fields


@pytest.mark.parametrize("username", ["", "has space", "x" * 151, "semi;colon"])
def test_bad_usernames(username):
    with pytest.raises(ValidationError):
        services.user_create(username=username, password=PASSWORD)


def test_password_change():
    user = make_user("bob")
    with pytest.raises(ValidationError):
        services.password_change(user=user, old_password="nope", new_password="An0ther-long-pw")
    with pytest.raises(ValidationError):
        services.password_change(user=user, old_password=PASSWORD, new_password="123")
    services.password_change(user=user, old_password=PASSWORD, new_password="An0ther-long-pw")
    assert user.check_password("An0ther-long-pw")


def test_tokens_are_stored_hashed():
    user = make_user("carol")
    token = services.token_create(user=user, name="ci")
    row = ApiToken.objects.get(user=user)
    assert token not in (row.digest, row.prefix) and row.prefix == token[:8]
    assert services.token_authenticate(token) == user
    assert services.token_authenticate(token + "x") is None
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert services.token_authenticate(token) is None


@pytest.mark.parametrize("key", ["A", "acme", "TOOLONGKEY1", "AC-ME", "AC ME", "", "ÄCME"])
def test_project_key_validation(key):
    admin = make_user(admin=True)
    with pytest.raises(ValidationError) as err:
        services.project_create(user=admin, key=key, name="x")
    assert "key" in err.value.fields
    assert not Project.objects.exists()


def test_project_create_rules():
    admin = make_user(admin=True)
    project = services.project_create(user=admin, key="AB12", name="Project", customer="ACME")
    assert Membership.objects.get(project=project).role == "project_manager"
    assert project.customer.name == "ACME"
    with pytest.raises(ValidationError):
        services.project_create(user=admin, key="AB12", name="again")
    with pytest.raises(PermissionDenied):
        services.project_create(user=make_user(), key="CD34", name="x")
    assert audit.verify().ok


def test_last_project_manager_cannot_be_removed_or_demoted(personas):
    p = personas
    with pytest.raises(PreconditionFailed) as err:
        services.membership_remove(user=p.pm, project=p.project, username=p.pm.username)
    assert err.value.code == "last_manager"
    with pytest.raises(PreconditionFailed):
        services.membership_set(user=p.pm, project=p.project, username=p.pm.username, role="qa")
    assert Membership.objects.get(project=p.project, user=p.pm).role == "project_manager"
    # with a second manager, the first may step down
    services.membership_set(
        user=p.pm, project=p.project, username=p.tech_lead.username, role="project_manager"
    )
    services.membership_set(user=p.pm, project=p.project, username=p.pm.username, role="viewer")
    assert Membership.objects.get(project=p.project, user=p.pm).role == "viewer"


def test_membership_validation(personas):
    p = personas
    with pytest.raises(ValidationError):
        services.membership_set(user=p.pm, project=p.project, username=p.qa.username, role="boss")
    with pytest.raises(ValidationError):
        services.membership_set(user=p.pm, project=p.project, username="nobody", role="qa")
    with pytest.raises(NotFound):
        services.membership_remove(user=p.pm, project=p.project, username=p.outsider.username)
    services.membership_remove(user=p.pm, project=p.project, username=p.viewer.username)
    assert not Membership.objects.filter(project=p.project, user=p.viewer).exists()
    assert AuditEvent.objects.filter(action="member.removed").exists()


def test_project_update_audits_old_to_new(personas):
    p = personas
    services.project_update(
        user=p.pm, project=p.project, data={"name": "New name", "delegate_max_cost": "5000"}
    )
    event = AuditEvent.objects.filter(action="project.updated").latest("seq")
    assert event.after == {"name": "New name", "delegate_max_cost": "5000"}
    with pytest.raises(ValidationError):
        services.project_update(user=p.pm, project=p.project, data={"key": "NEW"})
    with pytest.raises(ValidationError):
        services.project_update(user=p.pm, project=p.project, data={"delegate_max_cost": "-1"})
    assert audit.verify().ok
