"""restrict(): the one visibility rule, per model and action."""

from __future__ import annotations

import pytest

from changeflow.accounts.models import Membership, Project
from changeflow.changes import services
from changeflow.changes.models import Attachment, ChangeRequest, Comment, ImpactAssessment, Vote
from changeflow.core.access import restrict, role_in
from changeflow.core.models import AuditEvent
from tests.factories import PASSWORD, ROLES, advance, fresh, make_cr

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
MODELS = [Project, Membership, ChangeRequest, Comment, Attachment, ImpactAssessment, Vote]


@pytest.fixture
def world(personas):
    from django.core.files.uploadedfile import SimpleUploadedFile

    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    services.vote_cast(user=p.pm, cr=fresh(cr, p.pm), decision="approve", password=PASSWORD)
    services.comment_create(user=p.pm, cr=cr, body="internal margin", internal=True)
    services.comment_create(user=p.customer, cr=cr, body="public")
    services.attachment_create(
        user=p.customer, cr=cr, upload=SimpleUploadedFile("a.png", PNG, content_type="image/png")
    )
    other = make_cr(p.other_project, by=p.outsider)
    services.comment_create(user=p.outsider, cr=other, body="theirs", internal=True)
    return p, cr, other


def visible(model, user, action="view"):
    return restrict(model.objects.all(), user, action)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("role", ROLES)
def test_members_see_their_project_only(world, role, model):
    p, cr, other = world
    user = p.by_role[role]
    qs = visible(model, user)
    assert qs.exists()
    path = {Project: "key", Membership: "project__key", ChangeRequest: "project__key"}.get(
        model, "change_request__project__key"
    )
    assert set(qs.values_list(path, flat=True)) == {"ACME"}


@pytest.mark.parametrize("model", MODELS)
def test_outsider_sees_only_the_other_project(world, model):
    p, cr, other = world
    assert not visible(model, p.outsider).filter(pk__in=visible(model, p.pm).values("pk")).exists()


@pytest.mark.parametrize("model", [*MODELS, AuditEvent])
def test_admin_sees_everything_anonymous_and_inactive_nothing(world, model):
    p, *_ = world
    from django.contrib.auth.models import AnonymousUser

    assert visible(model, p.admin).count() == model.objects.count()
    assert not visible(model, AnonymousUser()).exists()
    assert not visible(model, None).exists()
    p.developer.is_active = False
    assert not visible(model, p.developer).exists()


@pytest.mark.parametrize(("role", "internal_seen"), [(r, r not in ("customer", "customer_rep"))
                                                     for r in ROLES])  # fmt: skip
def test_internal_comments_and_events_hidden_from_customers(world, role, internal_seen):
    p, cr, _ = world
    user = p.by_role[role]
    comments = visible(Comment, user).filter(change_request=cr)
    assert comments.filter(internal=True).exists() is internal_seen
    assert comments.filter(internal=False).exists()
    events = visible(AuditEvent, user)
    assert events.filter(project="ACME", internal=True).exists() is internal_seen
    assert events.filter(project="ACME", internal=False).exists()
    assert not events.exclude(project="ACME").exists()


def test_customer_in_one_project_is_staff_in_another(world):
    p, cr, other = world
    services_ = __import__("changeflow.accounts.services", fromlist=["membership_set"])
    services_.membership_set(
        user=p.outsider, project=p.other_project, username=p.customer.username, role="developer"
    )
    comments = visible(Comment, p.customer)
    assert comments.filter(change_request=other, internal=True).exists()
    assert not comments.filter(change_request=cr, internal=True).exists()


@pytest.mark.parametrize("role", ROLES)
def test_manage_is_for_project_managers(world, role):
    p, *_ = world
    user = p.by_role[role]
    assert visible(Project, user, "manage").exists() is (role == "project_manager")
    assert not visible(Project, p.outsider, "manage").filter(key="ACME").exists()
    assert visible(Project, p.admin, "manage").filter(key="ACME").exists()


@pytest.mark.parametrize("role", ROLES)
def test_audit_trail_for_pm_tech_lead_qa(world, role):
    p, *_ = world
    user = p.by_role[role]
    expected = role in ("project_manager", "tech_lead", "qa")
    assert visible(AuditEvent, user, "audit").exists() is expected
    assert visible(ChangeRequest, user, "audit").exists() is expected
    assert not visible(AuditEvent, p.outsider, "audit").filter(project="ACME").exists()


def test_unknown_action_and_model(world):
    p, *_ = world
    with pytest.raises(ValueError):
        visible(ChangeRequest, p.pm, "delete")
    with pytest.raises(TypeError):
        restrict(
            AuditEvent.objects.none().model._meta.apps.get_model("auth", "Group").objects, p.pm
        )


def test_role_in(world):
    p, *_ = world
    assert role_in(p.qa, p.project) == "qa"
    assert role_in(p.outsider, p.project) is None
    assert role_in(p.admin, p.project) is None


@pytest.mark.parametrize(
    ("who", "manages", "writes"),
    [("admin", True, True), ("pm", True, True), ("tech_lead", False, True),
     ("qa", False, True), ("developer", False, True), ("customer_rep", False, True),
     ("customer", False, True), ("viewer", False, False), ("outsider", False, False)],
)  # fmt: skip
def test_manages_and_may_write_by_role(personas, who, manages, writes):
    """The two predicates pages ask (what to offer) and services share: managing a project is
    its project managers' and site admins'; writing in it, every member's but a viewer's."""
    from changeflow.core import access

    user = getattr(personas, who)
    assert access.manages(user, personas.project) is manages
    assert access.may_write(user, personas.project) is writes
    managed = access.restrict(type(personas.project).objects, user, "manage")
    assert managed.filter(pk=personas.project.pk).exists() is manages  # the query's same rule
