"""Random sequences of actions by random people, through the services, on the real database.

Every step either succeeds or raises a typed ``ApplicationError``; after every step the
invariants hold. The database is not reset between Hypothesis examples, so each example works
in a project of its own (the people are shared).
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from changeflow.accounts import services as accounts
from changeflow.changes import services, workflow
from changeflow.changes.models import ChangeRequest
from changeflow.core import audit
from changeflow.core.errors import ApplicationError
from changeflow.core.models import AuditEvent
from tests.factories import PASSWORD, ROLES, make_project

PEOPLE = (*ROLES, "admin", "outsider")
ACTIONS = [a.value for a in workflow.Action]
DECIDING = ("cr.approve", "cr.reject", "cr.defer", "cr.approve_emergency", "cr.verify",
            "vote.cast", "vote.changed")  # fmt: skip
REACHABLE = {s.value for s in workflow.reachable_states()}
_keys = itertools.count(1)
# left out of ``progress`` (the random ``transition`` rule still takes them)
BACKWARD = {"withdraw", "return", "reject", "defer", "reject_verification"}
REACHED: Counter[str] = Counter()  # the states the run's CRs ended in

people_st = st.sampled_from(PEOPLE)
amount_st = st.sampled_from([None, "", "0", "4", "40", "400", "-1", "x"])


class Lifecycle(RuleBasedStateMachine):
    personas = None  # set by the test

    def __init__(self):
        super().__init__()
        cache.clear()  # the sign-in failure counters, shared across examples
        p = type(self).personas
        self.people = {role: p.by_role[role] for role in ROLES}
        self.people.update(admin=p.admin, outsider=p.outsider)
        self.key = f"H{next(_keys)}"
        self.project = make_project(self.key, manager=p.pm)
        for role in ROLES[1:]:
            accounts.membership_set(
                user=p.pm, project=self.project, username=p.by_role[role].username, role=role
            )
        self.copies: dict[str, ChangeRequest] = {}  # a copy of each CR as first read
        self.versions: dict[str, int] = {}
        self.crs: list[str] = []

    # ------------------------------------------------------------ helpers

    def attempt(self, fn, **kw):
        try:
            return fn(**kw)
        except ApplicationError:
            return None

    def current(self, i: int) -> ChangeRequest:
        return ChangeRequest.objects.select_related("project", "requested_by").get(
            key=self.crs[i % len(self.crs)]
        )

    # ------------------------------------------------------------ rules

    @rule(
        who=people_st,
        requester=st.sampled_from([None, *ROLES]),
        emergency=st.booleans(),
        submit=st.booleans(),
        classified=st.booleans(),
    )
    def create(self, who, requester, emergency, submit, classified):
        extra = {"type": "feature", "priority": "P2"} if classified else {}
        cr = self.attempt(
            services.change_request_create, user=self.people[who], project=self.project,
            title="登录页面需要支持短信验证码", description="SMS codes at sign-in",
            emergency=emergency, submit=submit,
            requested_by=self.people[requester].username if requester else None, **extra,
        )  # fmt: skip
        if cr is not None:
            self.crs.append(cr.key)
            self.copies[cr.key] = cr
            self.versions[cr.key] = cr.version

    @precondition(lambda self: self.crs)
    @rule(
        i=st.integers(0, 50),
        who=people_st,
        action=st.sampled_from(ACTIONS),
        comment=st.sampled_from(["", "what is missing: the SMS provider"]),
        stale=st.booleans(),
    )
    def transition(self, i, who, action, comment, stale):
        cr = self.current(i)
        if stale:  # a copy read long ago, as a slow client would hold
            cr = self.copies[cr.key]
        self.attempt(
            services.change_request_transition,
            user=self.people[who], cr=cr, action=action, comment=comment,
        )  # fmt: skip

    @precondition(lambda self: self.crs)
    @rule(i=st.integers(0, 50), pick=st.integers(0, 100))
    def progress(self, i, pick):
        """Take one of the actions someone may take now (drives CRs deep into the table)."""
        self._progress(i, pick)

    def _progress(self, i, pick):
        cr = self.current(i)
        offers = [
            (who, action)
            for who, user in self.people.items()
            for action in services.available_actions(cr=cr, user=user)
            if action.value not in BACKWARD
        ]
        if cr.state == "submitted" and not (cr.type and cr.priority):
            offers.append(("tech_lead", "classify"))
        if cr.state in ("implementing", "verifying"):
            offers.append(("developer", "actuals"))
        if cr.state in ("assessing", "in_review"):
            offers.append(("tech_lead", "assess"))
            offers += [(who, "vote") for who in ("project_manager", "qa", "customer_rep")]
        if not offers:
            return
        who, action = offers[pick % len(offers)]
        user = self.people[who]
        if action == "classify":
            self.attempt(
                services.change_request_update,
                user=user, cr=cr, data={"type": "defect", "priority": "P3"},
            )  # fmt: skip
        elif action == "actuals":
            self.attempt(
                services.change_request_update,
                user=user, cr=cr, data={"actual_effort_hours": "8"},
            )  # fmt: skip
        elif action == "assess":
            self.assess(i, who, "8", True)
        elif action == "vote":
            self.vote(i, who, "approve", True)
        else:
            self.attempt(
                services.change_request_transition,
                user=user, cr=cr, action=action, comment="because",
            )  # fmt: skip

    @precondition(lambda self: self.crs)
    @rule(i=st.integers(0, 50), pick=st.integers(0, 100))
    def progress_again(self, i, pick):
        """The same as ``progress``: makes forward steps twice as likely."""
        self._progress(i, pick)

    @precondition(lambda self: self.crs)
    @rule(
        i=st.integers(0, 50),
        who=people_st,
        data=st.one_of(
            st.fixed_dictionaries({"actual_effort_hours": amount_st}),
            st.fixed_dictionaries({"title": st.sampled_from(["", "New title", "x" * 201])}),
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["", "feature", "bogus"]),
                    "priority": st.sampled_from(["", "P1", "P4"]),
                }
            ),  # fmt: skip
            st.fixed_dictionaries({"emergency": st.booleans()}),
            st.fixed_dictionaries({"labels": st.sampled_from([["a"], "a", [1]])}),
        ),
        expected=st.sampled_from([None, "current", "stale"]),
    )
    def edit(self, i, who, data, expected):
        cr = self.current(i)
        version = {None: None, "current": cr.version, "stale": cr.version - 1}[expected]
        self.attempt(
            services.change_request_update,
            user=self.people[who], cr=cr, data=data, expected_version=version,
        )  # fmt: skip

    @precondition(lambda self: self.crs)
    @rule(
        i=st.integers(0, 50),
        who=people_st,
        effort=amount_st,
        complete=st.booleans(),
    )
    def assess(self, i, who, effort, complete):
        risks = [{"description": "quota", "probability": "0.2", "impact": 2}] if complete else []
        self.attempt(
            services.assessment_create,
            user=self.people[who], cr=self.current(i), effort_hours=effort,
            schedule_days="3", cost="900", currency="CNY", risks=risks,
        )  # fmt: skip

    @precondition(lambda self: self.crs)
    @rule(
        i=st.integers(0, 50),
        who=people_st,
        decision=st.sampled_from(["approve", "reject", "defer", "abstain", "maybe"]),
        right_password=st.booleans(),
    )
    def vote(self, i, who, decision, right_password):
        self.attempt(
            services.vote_cast,
            user=self.people[who], cr=self.current(i), decision=decision,
            password=PASSWORD if right_password else "not-my-password",
        )  # fmt: skip

    @precondition(lambda self: self.crs)
    @rule(
        i=st.integers(0, 50),
        who=people_st,
        internal=st.booleans(),
        body=st.sampled_from(["ok", " "]),
    )
    def comment(self, i, who, internal, body):
        self.attempt(
            services.comment_create,
            user=self.people[who], cr=self.current(i), body=body, internal=internal,
        )  # fmt: skip

    @rule(
        effort=st.sampled_from([None, "10", "100"]),
        cost=st.sampled_from([None, "1000", "100000"]),
    )
    def delegation(self, effort, cost):
        self.attempt(
            accounts.project_update,
            user=self.people["project_manager"], project=self.project,
            data={"delegate_max_effort_hours": effort, "delegate_max_cost": cost},
        )  # fmt: skip

    # ------------------------------------------------------------ invariants

    def teardown(self):
        REACHED.update(
            ChangeRequest.objects.filter(project=self.project).values_list("state", flat=True)
        )

    @invariant()
    def audit_chain_verifies(self):
        result = audit.verify()
        assert result.ok, result

    @invariant()
    def change_requests_are_consistent(self):
        rows = ChangeRequest.objects.filter(project=self.project).select_related("requested_by")
        for cr in rows:
            assert cr.state in REACHABLE
            if cr.state == "closed":
                assert cr.actual_effort_hours is not None, cr.key
            assert cr.version >= self.versions.get(cr.key, 1), cr.key
            self.versions[cr.key] = cr.version
            last = (
                AuditEvent.objects.filter(object_key=cr.key, after__has_key="state")
                .order_by("-seq")
                .first()
            )
            assert last is not None and last.after["state"] == cr.state, (cr.key, cr.state)
            deciders = AuditEvent.objects.filter(object_key=cr.key, action__in=DECIDING)
            assert not deciders.filter(actor=cr.requested_by.username).exists(), cr.key
            if cr.decision_mode == "board" or cr.ratification in ("ratified", "refused"):
                assert AuditEvent.objects.filter(
                    object_key=cr.key, action__in=["cr.decided", "cr.ratified",
                                                   "cr.ratification_refused"],
                ).exists()  # fmt: skip


@pytest.mark.slow
@pytest.mark.django_db
def test_random_action_sequences_keep_the_invariants(personas):
    Lifecycle.personas = personas
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=25,
            stateful_step_count=50,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    # The run explored the table beyond its first steps (else it checked little).
    assert {"in_review", "approved", "implementing", "verifying", "closed"} & set(REACHED), REACHED
    print(sorted(REACHED.items()))
