"""Test data made through the services, so that every row has its audit trail."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

from changeflow.accounts import services as accounts
from changeflow.accounts.models import Project, User
from changeflow.changes import selectors, services
from changeflow.changes.models import ChangeRequest

PASSWORD = "Sup3r-secret-pw"
ROLES = ("project_manager", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer")
_seq = itertools.count(1)


def make_user(username: str | None = None, *, admin: bool = False, **kw) -> User:
    return accounts.user_create(
        username=username or f"user{next(_seq)}", password=PASSWORD, admin=admin, **kw
    )


def make_project(key: str, *, manager: User, name: str = "", customer: str = "ACME Corp"):
    creator = manager if (manager.is_superuser or manager.is_staff) else None
    if creator is None:
        # Projects are created by site admins; hand the project to ``manager`` afterwards.
        creator = User.objects.filter(is_superuser=True).first() or make_user(admin=True)
    project = accounts.project_create(
        user=creator, key=key, name=name or f"Project {key}", customer=customer
    )
    if creator != manager:
        accounts.membership_set(
            user=creator, project=project, username=manager.username, role="project_manager"
        )
        accounts.membership_remove(user=creator, project=project, username=creator.username)
    return project


def make_personas(key: str = "ACME", other_key: str = "OTHER") -> SimpleNamespace:
    """A project with one member per role, a site admin who is no member, and an outsider
    who manages another project."""
    admin = make_user(f"admin_{key.lower()}", admin=True)
    people = {role: make_user(f"{role}_{key.lower()}") for role in ROLES}
    project = make_project(key, manager=people["project_manager"])
    pm = people["project_manager"]
    for role, user in people.items():
        if role != "project_manager":
            accounts.membership_set(user=pm, project=project, username=user.username, role=role)
    outsider = make_user(f"outsider_{key.lower()}")
    other = make_project(other_key, manager=outsider)
    return SimpleNamespace(
        admin=admin, project=project, other_project=other, outsider=outsider,
        pm=pm, tech_lead=people["tech_lead"], qa=people["qa"], developer=people["developer"],
        customer_rep=people["customer_rep"], customer=people["customer"],
        viewer=people["viewer"], by_role=people,
    )  # fmt: skip


def make_cr(project: Project, *, by: User, submit: bool = False, **fields) -> ChangeRequest:
    fields.setdefault("title", f"Change {next(_seq)}")
    fields.setdefault("description", "登录页面需要支持短信验证码")
    return services.change_request_create(user=by, project=project, submit=submit, **fields)


def fresh(cr: ChangeRequest, user: User) -> ChangeRequest:
    return selectors.change_request_get(user=user, key=cr.key)


def complete_assessment(cr: ChangeRequest, *, by: User, **overrides):
    data = {
        "effort_hours": "40",
        "schedule_days": "5",
        "cost": "12000",
        "currency": "CNY",
        "risks": [{"description": "SMS gateway quota", "probability": "0.3", "impact": 3}],
    }
    data.update(overrides)
    return services.assessment_create(user=by, cr=fresh(cr, by), **data)


def advance(cr: ChangeRequest, p: SimpleNamespace, to: str) -> ChangeRequest:
    """Take ``cr`` (created by the customer persona) along the main path to state ``to``."""
    path = [
        ("submitted", p.customer, "submit", {}),
        ("triaged", p.tech_lead, "triage", {}),
        ("assessing", p.tech_lead, "start_assessment", {}),
        ("in_review", p.tech_lead, "request_review", {}),
    ]
    cr = fresh(cr, p.pm)
    if not cr.type or not cr.priority:
        cr = services.change_request_update(
            user=p.pm, cr=cr, data={"type": "feature", "priority": "P2"}
        )
    for _state, actor, action, _ in path:
        if cr.state == to:
            return cr
        if action == "request_review":
            complete_assessment(cr, by=p.tech_lead)
        cr = services.change_request_transition(user=actor, cr=fresh(cr, actor), action=action)
    if cr.state == to:
        return cr
    for voter in (p.pm, p.qa, p.customer_rep):
        services.vote_cast(user=voter, cr=fresh(cr, voter), decision="approve", password=PASSWORD)
    cr = fresh(cr, p.pm)
    for action, actor, _state in (
        ("start_implementation", p.tech_lead, "implementing"),
        ("submit_verification", p.developer, "verifying"),
    ):
        if cr.state == to:
            return cr
        cr = services.change_request_transition(user=actor, cr=fresh(cr, actor), action=action)
    if cr.state == to:
        return cr
    cr = services.change_request_update(user=p.developer, cr=cr, data={"actual_effort_hours": "38"})
    cr = services.change_request_transition(user=p.qa, cr=fresh(cr, p.qa), action="verify")
    assert cr.state == to, f"cannot reach {to} along the main path"
    return cr
