"""Freeze windows: no implementation starts inside one (emergencies excepted); who manages them;
bad input; audit; the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from changeflow.ccb import selectors as ccb_selectors
from changeflow.ccb import services as ccb
from changeflow.ccb.models import FreezeWindow
from changeflow.changes import services
from changeflow.core.errors import NotFound, PermissionDenied, PreconditionFailed, ValidationError
from changeflow.core.models import AuditEvent
from tests.api.conftest import error_of, names
from tests.factories import advance, fresh, make_cr

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)


def window(p, *, by=None, start=-HOUR, end=HOUR, **kw):
    now = timezone.now()
    return ccb.freeze_window_create(
        user=by or p.pm, project=p.project, name=kw.pop("name", "Release freeze"),
        starts_at=now + start, ends_at=now + end, **kw,
    )  # fmt: skip


def start(p, cr):
    return services.change_request_transition(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="start_implementation"
    )


# ---------------------------------------------------------------- the workflow


def test_start_implementation_refused_inside_a_window(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "approved")
    window(p)
    assert ccb_selectors.in_freeze(p.project, timezone.now())
    with pytest.raises(PreconditionFailed) as err:
        start(p, cr)
    assert err.value.status == 422 and err.value.code == "freeze_window"
    assert fresh(cr, p.pm).state == "approved"
    assert "start_implementation" not in services.available_actions(
        cr=fresh(cr, p.tech_lead), user=p.tech_lead
    )


@pytest.mark.parametrize("span", [(-2 * HOUR, -HOUR), (HOUR, 2 * HOUR)])
def test_start_implementation_allowed_outside_a_window(personas, span):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "approved")
    window(p, start=span[0], end=span[1])
    assert start(p, cr).state == "implementing"


def test_window_of_another_project_does_not_freeze(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "approved")
    now = timezone.now()
    ccb.freeze_window_create(
        user=p.outsider, project=p.other_project, name="Theirs", starts_at=now - HOUR,
        ends_at=now + HOUR,
    )  # fmt: skip
    assert start(p, cr).state == "implementing"


def test_start_implementation_allowed_after_the_window_is_deleted(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "approved")
    w = window(p)
    with pytest.raises(PreconditionFailed):
        start(p, cr)
    ccb.freeze_window_delete(user=p.pm, window=w)
    assert not ccb_selectors.in_freeze(p.project, timezone.now())
    assert start(p, cr).state == "implementing"


def test_emergency_cr_starts_inside_a_window(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, emergency=True), p, "approved")
    window(p)
    assert start(p, cr).state == "implementing"


def test_in_freeze_bounds(personas):
    p = personas
    w = window(p, start=HOUR, end=2 * HOUR)
    assert ccb_selectors.in_freeze(p.project, w.starts_at)  # inclusive
    assert not ccb_selectors.in_freeze(p.project, w.ends_at)  # exclusive
    assert not ccb_selectors.in_freeze(p.project, w.starts_at - dt.timedelta(microseconds=1))


def test_context_reads_no_freeze_outside_approved(personas):
    p = personas
    window(p)
    cr = fresh(make_cr(p.project, by=p.customer), p.pm)
    with CaptureQueriesContext(connection) as ctx:
        assert services.workflow_context(cr, p.pm).in_freeze is False
    assert not any("freezewindow" in q["sql"].lower() for q in ctx.captured_queries)
    cr = advance(cr, p, "approved")
    with CaptureQueriesContext(connection) as ctx:
        assert services.workflow_context(fresh(cr, p.pm), p.pm).in_freeze is True
    assert sum("freezewindow" in q["sql"].lower() for q in ctx.captured_queries) == 1


# ---------------------------------------------------------------- services


@pytest.mark.parametrize("who", ["pm", "admin"])
def test_create_and_delete_by_manager_or_admin(personas, who):
    p = personas
    user = getattr(p, who)
    w = window(p, by=user, reason="  Year-end release  ")
    assert w.reason == "Year-end release" and w.created_by == user
    event = AuditEvent.objects.get(action="freeze_window.created")
    assert event.actor == user.username and event.project == "ACME"
    assert event.object_key == str(w.pk) and event.after["name"] == "Release freeze"
    assert list(ccb_selectors.freeze_window_list(user=p.viewer, project=p.project)) == [w]
    ccb.freeze_window_delete(user=user, window=w)
    assert not FreezeWindow.objects.exists()
    event = AuditEvent.objects.get(action="freeze_window.deleted")
    assert event.before["id"] == w.pk and event.actor == user.username


@pytest.mark.parametrize("who", ["tech_lead", "qa", "developer", "customer_rep", "customer",
                                 "viewer"])  # fmt: skip
def test_others_may_not_manage(personas, who):
    p = personas
    user = getattr(p, who)
    with pytest.raises(PermissionDenied):
        ccb.require_freeze_manager(user, p.project)
    with pytest.raises(PermissionDenied):
        window(p, by=user)
    with pytest.raises(PermissionDenied):  # the role first, whatever the window
        window(p, by=user, name="", start=HOUR, end=-HOUR)
    w = window(p)
    with pytest.raises(PermissionDenied):
        ccb.freeze_window_delete(user=user, window=w)
    assert FreezeWindow.objects.count() == 1
    assert not AuditEvent.objects.filter(action="freeze_window.deleted").exists()


def test_outsider_sees_nothing(personas):
    p = personas
    with pytest.raises(NotFound):
        window(p, by=p.outsider)
    w = window(p)
    with pytest.raises(NotFound):
        ccb.freeze_window_delete(user=p.outsider, window=w)
    with pytest.raises(NotFound):
        ccb_selectors.freeze_window_list(user=p.outsider, project=p.project)


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"start": HOUR, "end": -HOUR}, "ends_at"),
        ({"start": HOUR, "end": HOUR}, "ends_at"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"reason": 5}, "reason"),
    ],
)
def test_bad_input_names_the_field(personas, kw, field):
    p = personas
    with pytest.raises(ValidationError) as err:
        window(p, **kw)
    assert field in err.value.fields
    assert not FreezeWindow.objects.exists()
    assert not AuditEvent.objects.filter(action="freeze_window.created").exists()


@pytest.mark.parametrize(
    "starts_at, ends_at, field",
    [
        (dt.datetime(2026, 12, 1), dt.datetime(2026, 12, 2, tzinfo=dt.UTC), "starts_at"),
        ("2026-12-01T00:00:00Z", "2026-12-02T00:00:00", "ends_at"),
        ("tomorrow", "2026-12-02T00:00:00Z", "starts_at"),
        ("2026-12-01T00:00:00Z", None, "ends_at"),
        ("2026-13-01T00:00:00Z", "2026-12-02T00:00:00Z", "starts_at"),
    ],
)
def test_bad_datetimes_name_the_field(personas, starts_at, ends_at, field):
    p = personas
    with pytest.raises(ValidationError) as err:
        ccb.freeze_window_create(
            user=p.pm, project=p.project, name="X", starts_at=starts_at, ends_at=ends_at
        )
    assert field in err.value.fields


# ---------------------------------------------------------------- API


def url(key="ACME", pk=None):
    base = f"/api/v1/projects/{key}/freeze-windows/"
    return f"{base}{pk}/" if pk is not None else base


BODY = {
    "name": "Year-end freeze",
    "starts_at": "2026-12-20T00:00:00+08:00",
    "ends_at": "2027-01-03T00:00:00+08:00",
    "reason": "Release",
}


@pytest.mark.parametrize("who", ["pm", "admin"])
def test_api_create_list_delete(personas, api, who):
    p = personas
    r = api(getattr(p, who)).post(url(), BODY, format="json")
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["name"] == "Year-end freeze" and data["created_by"] == getattr(p, who).username
    assert data["starts_at"].startswith("2026-12-20") or data["starts_at"].startswith("2026-12-19")
    r = api(p.viewer).get(url())
    assert r.status_code == 200
    assert [w["id"] for w in r.json()["results"]] == [data["id"]]
    r = api(getattr(p, who)).delete(url(pk=data["id"]))
    assert r.status_code == 204
    assert api(p.pm).delete(url(pk=data["id"])).status_code == 404
    assert api(p.viewer).get(url()).json()["results"] == []


@pytest.mark.parametrize("who", ["tech_lead", "qa", "developer", "customer_rep", "customer",
                                 "viewer"])  # fmt: skip
def test_api_forbidden_for_other_members(personas, api, who):
    p = personas
    user = getattr(p, who)
    assert api(user).get(url()).status_code == 200
    r = api(user).post(url(), BODY, format="json")
    assert r.status_code == 403 and error_of(r)
    w = window(p)
    assert api(user).delete(url(pk=w.pk)).status_code == 403
    assert FreezeWindow.objects.count() == 1


def test_api_outsider_and_anonymous(personas, api):
    p = personas
    w = window(p)
    assert api(p.outsider).get(url()).status_code == 404
    assert api(p.outsider).post(url(), BODY, format="json").status_code == 404
    assert api(p.outsider).delete(url(pk=w.pk)).status_code == 404
    assert api(None).get(url()).status_code == 401
    # Another project's window is not found through this project's path.
    assert api(p.outsider).delete(url("OTHER", pk=w.pk)).status_code == 404
    assert FreezeWindow.objects.count() == 1


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"starts_at": "2026-12-20T00:00:00"}, "starts_at"),
        ({"ends_at": "2027-01-03T00:00:00"}, "ends_at"),
        ({"starts_at": "soon"}, "starts_at"),
        ({"ends_at": "2027-02-30T00:00:00Z"}, "ends_at"),
        ({"ends_at": "2026-12-19T00:00:00+08:00"}, "ends_at"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_api_bad_input_is_400_naming_the_field(personas, api, overrides, field):
    p = personas
    r = api(p.pm).post(url(), {**BODY, **overrides}, format="json")
    assert r.status_code == 400, r.content
    assert names(error_of(r), field)
    assert not FreezeWindow.objects.exists()


def test_api_transition_inside_a_window_is_422(personas, api):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "approved")
    window(p)
    r = api(p.tech_lead).post(
        f"/api/v1/change-requests/{cr.key}/transitions/",
        {"action": "start_implementation"},
        format="json",
    )
    assert r.status_code == 422
    assert error_of(r)["code"] == "freeze_window"
    assert fresh(cr, p.pm).state == "approved"


def test_api_offset_beyond_postgresqls_range_is_stored_in_utc(personas, api):
    """Found by the schema fuzzing (test_fuzz.py): an offset such as +22:22 (valid ISO 8601,
    beyond PostgreSQL's ±15:59) was sent to the database as it came, a 500 (DataError)."""
    body = {**BODY, "starts_at": "2026-12-20T08:00:00+22:22", "ends_at": "2027-01-03T00:00:00Z"}
    r = api(personas.pm).post(url(), body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["starts_at"].startswith("2026-12-19T09:38:00")
    r = api(personas.pm).post(
        url(), {**BODY, "starts_at": "0001-01-01T00:00:00+01:00"}, format="json"
    )
    assert r.status_code == 400
    assert "starts_at" in r.json()["error"]["fields"]
