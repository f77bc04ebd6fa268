"""``changeflow demo``: every state, through the services, idempotent."""

import stat

import pytest
from django.db import connection

from changeflow import demo
from changeflow.accounts.models import Membership, Project, User
from changeflow.changes.models import ChangeRequest, Ratification, Vote
from changeflow.changes.workflow import State
from changeflow.core import audit
from changeflow.core.models import AuditEvent
from tests.factories import make_personas

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(settings, tmp_path):
    settings.HOME = tmp_path
    return tmp_path


def test_demo_loads_every_state_through_the_services(run_cli, home):
    code, out, err = run_cli("demo")
    assert (code, err) == (0, "")
    project = Project.objects.get(key="ACME")
    assert "华东电商平台" in project.name and project.customer is not None
    assert project.delegate_max_effort_hours is not None

    roles = set(Membership.objects.filter(project=project).values_list("role", flat=True))
    assert roles == {"project_manager", "tech_lead", "qa", "developer", "customer_rep",
                     "customer", "viewer"}  # fmt: skip
    assert User.objects.filter(is_superuser=True).exists()

    crs = ChangeRequest.objects.filter(project=project)
    assert {cr.state for cr in crs} == set(State.values)
    emergency = crs.get(emergency=True)
    assert emergency.state == State.IMPLEMENTING
    assert emergency.ratification == Ratification.PENDING
    assert any("\u4e00" <= ch <= "\u9fff" for cr in crs for ch in cr.title)
    assert any(cr.title.isascii() for cr in crs)
    assert Vote.objects.filter(change_request__project=project).exists()
    assert {cr.decision_mode for cr in crs} >= {"board", "delegated", "emergency"}
    # The CRs being worked on have assignees; the one waiting in triage does not.
    owners = dict(crs.filter(assignee__isnull=False).values_list("key", "assignee__username"))
    assert set(owners.values()) >= {"chen.jing", "zhao.min", "liu.yang"}
    assert owners[emergency.key] == "zhao.min"
    from changeflow.comms.models import InboundMessage

    mailed = InboundMessage.objects.get(outcome="created").change_request
    assert (mailed.state, owners[mailed.key]) == (State.SUBMITTED, "chen.jing")
    assert not crs.get(state=State.TRIAGED).assignee_id

    # Each CR has its audit history, written through the services on the CLI's channel.
    for cr in crs:
        assert AuditEvent.objects.filter(object_key=cr.key, action="cr.created").exists()
    assert set(AuditEvent.objects.values_list("channel", flat=True)) == {"cli"}
    assert audit.verify().ok

    # The passwords are printed and kept for the owner only.
    path = home / "demo-credentials.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = path.read_text()
    for username, _display, _role, _email in (demo.ADMIN, *demo.PEOPLE):
        assert username in out and username in kept
        line = next(x for x in kept.splitlines() if x.startswith(username + " "))
        password = line.split()[-1]
        assert password in out
        assert User.objects.get(username=username).check_password(password)


def test_demo_is_idempotent(run_cli, home):
    assert run_cli("demo")[0] == 0
    counts = (ChangeRequest.objects.count(), User.objects.count(), AuditEvent.objects.count())
    code, out, err = run_cli("demo")
    assert (code, err) == (0, "")
    assert "exists" in out
    assert str(home / "demo-credentials.txt") in out
    assert counts == (ChangeRequest.objects.count(), User.objects.count(),
                      AuditEvent.objects.count())  # fmt: skip


def test_demo_if_empty_loads_only_into_an_empty_database(run_cli, home):
    make_personas(key="SHOP", other_key="OPS")
    code, out, _err = run_cli("demo", "--if-empty")
    assert code == 0 and "not loaded" in out
    assert not Project.objects.filter(key="ACME").exists()


def test_demo_if_empty_loads_the_first_time(run_cli, home):
    code, _out, _err = run_cli("demo", "--if-empty")
    assert code == 0
    assert Project.objects.filter(key="ACME").exists()
    code, out, _err = run_cli("demo", "--if-empty")
    assert code == 0 and "exists" in out


def test_demo_refuses_to_reuse_existing_users(run_cli, home):
    User.objects.create_user("li.na", password="x")
    code, out, err = run_cli("demo")
    assert code == 1
    assert "li.na" in err and len(err.strip().splitlines()) == 1
    assert not Project.objects.filter(key="ACME").exists()


def test_demo_metrics_are_spread_over_weeks(run_cli, home):
    from changeflow.reports import metrics

    assert run_cli("demo")[0] == 0
    project = Project.objects.get(key="ACME")
    pm = User.objects.get(username="wang.lei")
    m = metrics.project_metrics(user=pm, project=project, period=metrics.default_period())
    assert m["submitted"]["total"] >= 30 and m["decisions"]["approval_rate"] is not None
    weeks = [p for p in m["trend"]["points"] if p["submitted"]]
    assert len(weeks) >= 8  # submissions over the weeks, not all on one day
    stages = m["cycle_time"]["stages"]
    assert all(stages[s]["median"] > 1 for s in ("submitted", "triaged", "assessing"))
    assert m["cycle_time"]["lead_time"]["median"] > 24 * 7
    assert 0 < m["cost"]["budget_used_share"] < 1 and m["volatility"]["volatility"] > 0
    assert m["sla_breaches"]["total"] >= 1 and m["estimation"] is not None
    # The SLA breach still matches its CR's stage (the SLA page shows it as open).
    from changeflow.comms.models import SlaBreach

    breach = SlaBreach.objects.filter(project=project).first()
    assert breach.change_request.state_changed_at == breach.stage_entered_at


@pytest.mark.django_db(transaction=True)  # the demo commits: its notifications are made
def test_demo_history_reads_as_the_weeks_it_tells(run_cli, home):
    """A CR's history, comments and votes carry the times of its stage history, not the minute
    the demo took to build; the chain still verifies. Beside a site's own work, the record is
    left as it was recorded."""
    import datetime as dt

    from django.utils import timezone

    from changeflow.changes.models import Comment, StateChange

    if audit.append_only():
        pytest.skip("the record is append-only here: test_on_postgresql_the_record_is_not_redated")
    assert run_cli("demo")[0] == 0
    now = timezone.now()
    for cr in ChangeRequest.objects.filter(project__key="ACME"):
        events = list(AuditEvent.objects.filter(object_type="change_request", object_key=cr.key))
        created = next(e for e in events if e.action == "cr.created")
        assert created.at == cr.created_at, cr.key
        entered = StateChange.objects.filter(change_request=cr, to_state=cr.state).last()
        moved = [e for e in events if (e.after or {}).get("state") == cr.state]
        if moved[-1].action != "cr.created":  # made and submitted at once: one event, two moves
            assert moved[-1].at == entered.at, cr.key  # the last move, when the list says
        assert all(created.at <= e.at <= now for e in events), cr.key
    spread = {e.at.date() for e in AuditEvent.objects.filter(action="cr.created")}
    assert len(spread) >= 20  # weeks, not one minute
    assert Comment.objects.filter(created_at__lt=now - dt.timedelta(days=7)).count() >= 10
    for vote in Vote.objects.all():
        event = AuditEvent.objects.get(action="vote.cast", object_key=vote.change_request.key,
                                       after__signer=vote.voter.username,
                                       after__round=vote.round)  # fmt: skip
        assert vote.signed_at == event.at
    from changeflow.notifications.models import Notification

    notes = Notification.objects.select_related("event")
    assert notes.count() > 100 and all(n.created_at == n.event.at for n in notes)  # the inbox
    assert audit.verify().ok


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's append-only record")
def test_on_postgresql_the_record_is_not_redated(run_cli, home):
    """PostgreSQL keeps the record append-only (its trigger refuses every UPDATE): the demo's
    events keep the time they were recorded, while its CRs tell the weeks; the demo loads."""
    started = timezone_now()
    assert run_cli("demo")[0] == 0
    assert not AuditEvent.objects.filter(at__lt=started).exists()
    assert ChangeRequest.objects.filter(created_at__lt=started).count() > 20
    assert audit.verify().ok


def test_demo_beside_a_sites_own_work_leaves_the_record_as_recorded(run_cli, home):
    make_personas(key="SHOP", other_key="OPS")
    recorded = dict(AuditEvent.objects.values_list("seq", "hash"))
    started = timezone_now()
    assert run_cli("demo")[0] == 0
    assert dict(AuditEvent.objects.filter(seq__in=recorded).values_list("seq", "hash")) == recorded
    assert not AuditEvent.objects.filter(at__lt=started, seq__gt=max(recorded)).exists()
    assert audit.verify().ok


def timezone_now():
    from django.utils import timezone

    return timezone.now()


def test_demo_has_a_weekly_review_schedule_and_two_reports(run_cli, home):
    from django.core.files.storage import default_storage

    from changeflow.reports import reviews
    from changeflow.reports.models import ReviewReport

    assert run_cli("demo")[0] == 0
    project = Project.objects.get(key="ACME")
    assert reviews.schedule_of(project) == "weekly"
    reports = list(ReviewReport.objects.filter(project=project).order_by("number"))
    assert [(r.kind, r.generated_by.username if r.generated_by else None) for r in reports] == [
        ("weekly", None), ("on_demand", "wang.lei"),
    ]  # fmt: skip
    week = reviews.last_complete("weekly", reviews.local_today())
    assert (reports[0].period_start, reports[0].period_end) == (week.start, week.end)
    assert reports[1].period_end == week.start  # the four weeks before
    assert reports[1].summary["submitted"] > 0  # the demo's history is spread over the weeks
    for report in reports:
        assert default_storage.exists(report.html_file.name)
        assert default_storage.exists(report.pdf_file.name)
    # The job finds nothing left to do this week.
    assert reviews.generate_due() == 0
