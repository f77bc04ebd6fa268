"""Change requests: create, list (filters, search, pagination), detail, PATCH with If-Match."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from changeflow.changes.models import ChangeRequest
from tests.api.conftest import error_of, names
from tests.factories import advance, complete_assessment, make_cr

URL = "/api/v1/change-requests/"


def body(**kw):
    data = {"project": "ACME", "title": "导出报表", "description": "需要导出 Excel 报表"}
    data.update(kw)
    return data


# ---------------------------------------------------------------- create


def test_create_by_customer_is_a_draft_with_the_next_key(personas, api):
    r = api(personas.customer).post(
        URL,
        body(labels=["报表", "export"], urgency="high", type="feature", priority="P2"),
        format="json",
    )
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["key"] == "ACME-1"
    assert data["state"] == "draft"
    assert data["channel"] == "api"
    assert data["requested_by"] == personas.customer.username
    assert data["labels"] == ["export", "报表"]
    assert data["urgency"] == "high"
    assert r.headers["ETag"] == '"1"'
    assert {a["action"] for a in data["available_actions"]} == {"submit", "withdraw"}
    r2 = api(personas.customer).post(URL, body(), format="json")
    assert r2.json()["key"] == "ACME-2"


def test_create_with_submit_and_requester(personas, api):
    r = api(personas.pm).post(
        URL,
        body(
            submit=True,
            requested_by=personas.customer_rep.username,
            channel="phone",
            emergency=True,
            desired_date="2030-01-31",
            reason="r",
            expected_benefit="b",
        ),
        format="json",
    )
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["state"] == "submitted"
    assert data["requested_by"] == personas.customer_rep.username
    assert data["created_by"] == personas.pm.username
    assert data["channel"] == "phone"
    assert data["emergency"] is True
    assert data["desired_date"] == "2030-01-31"


def test_create_by_admin_who_is_no_member(personas, api):
    assert api(personas.admin).post(URL, body(), format="json").status_code == 201


def test_create_forbidden_for_viewer(personas, api):
    r = api(personas.viewer).post(URL, body(), format="json")
    assert r.status_code == 403
    assert not ChangeRequest.objects.exists()


def test_create_in_a_project_of_others_is_404(personas, api):
    r = api(personas.outsider).post(URL, body(), format="json")
    assert r.status_code == 404
    r = api(personas.pm).post(URL, body(project="OTHER"), format="json")
    assert r.status_code == 404
    assert not ChangeRequest.objects.exists()


@pytest.mark.parametrize(
    "data, field",
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "长" * 100_001}, "description"),
        ({"description": None}, "description"),
        ({"project": None}, "project"),
        ({"channel": "fax"}, "channel"),
        ({"type": "bugfix"}, "type"),
        ({"priority": "P9"}, "priority"),
        ({"urgency": "asap"}, "urgency"),
        ({"labels": "a,b"}, "labels"),
        ({"labels": [1, {"a": 2}]}, "labels"),
        ({"labels": ["x" * 51]}, "labels"),
        ({"desired_date": "next week"}, "desired_date"),
        ({"desired_date": "2030-02-30"}, "desired_date"),
        ({"emergency": "maybe"}, "emergency"),
        ({"submit": [True]}, "submit"),
        ({"requested_by": "nobody"}, "requested_by"),
        ({"requested_by": "outsider_acme"}, "requested_by"),
        ({"affected_requirements": ["ACME-R-1"]}, "affected_requirements"),
        ({"affected_requirements": "ACME-R-1"}, "affected_requirements"),
        ({"state": "approved"}, "state"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_create_bad_input_names_the_field(personas, api, data, field):
    r = api(personas.pm).post(URL, body(**data), format="json")
    assert r.status_code == 400, r.content
    err = error_of(r)
    assert names(err, field), err
    assert not ChangeRequest.objects.exists()


@pytest.mark.parametrize("missing", ["project", "title", "description"])
def test_create_missing_required_field(personas, api, missing):
    data = body()
    del data[missing]
    r = api(personas.pm).post(URL, data, format="json")
    assert r.status_code == 400
    assert missing in error_of(r)["fields"]


@pytest.mark.parametrize(
    "raw", [b'{"title": ', b"[1, 2]", b'"just a string"', b"null", b"\xff\xfe", b"{'a': 1}"]
)
def test_malformed_or_non_object_json_is_400(personas, api, raw):
    r = api(personas.pm).post(URL, raw, content_type="application/json")
    assert r.status_code == 400, r.content
    error_of(r)


@pytest.mark.parametrize(
    "content_type, raw",
    [
        ("application/x-www-form-urlencoded", b"project=ACME&title=t&description=d"),
        ("text/plain", b"hello"),
        ("application/xml", b"<cr/>"),
    ],
)
def test_wrong_content_type_is_415(personas, api, content_type, raw):
    r = api(personas.pm).post(URL, raw, content_type=content_type)
    assert r.status_code == 415
    assert error_of(r)["code"] == "unsupported_media_type"


def test_huge_body_is_413_not_500(personas, api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    raw = json.dumps(body(description="x" * 20_000)).encode()
    r = api(personas.pm).post(URL, raw, content_type="application/json")
    assert r.status_code == 413
    assert error_of(r)["code"] == "too_large"


# ---------------------------------------------------------------- list, filters, search


@pytest.fixture
def crs(personas):
    p = personas
    a = make_cr(p.project, by=p.customer, title="登录页面需要支持短信验证码", type="feature",
                priority="P1", channel="email")  # fmt: skip
    b = make_cr(p.project, by=p.pm, title="Export monthly report", description="CSV export",
                type="modification", priority="P3", channel="meeting", submit=True)  # fmt: skip
    c = make_cr(p.project, by=p.tech_lead, title="审批流程调整", description="审批需要两级",
                type="defect", priority="P2", submit=True)  # fmt: skip
    other = make_cr(p.other_project, by=p.outsider, title="Other tenant 验证码")
    return {"a": a, "b": b, "c": c, "other": other}


def keys(r):
    assert r.status_code == 200, r.content
    return {cr["key"] for cr in r.json()["results"]}


def test_list_shows_only_visible_crs(personas, api, crs):
    assert keys(api(personas.viewer).get(URL)) == {"ACME-1", "ACME-2", "ACME-3"}
    assert keys(api(personas.outsider).get(URL)) == {"OTHER-1"}
    assert keys(api(personas.admin).get(URL)) == {"ACME-1", "ACME-2", "ACME-3", "OTHER-1"}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("?state=draft", {"ACME-1"}),
        ("?state=submitted", {"ACME-2", "ACME-3"}),
        ("?state=draft&state=submitted", {"ACME-1", "ACME-2", "ACME-3"}),
        ("?type=defect", {"ACME-3"}),
        ("?priority=P1", {"ACME-1"}),
        ("?channel=meeting", {"ACME-2"}),
        ("?project=ACME&priority=P3", {"ACME-2"}),
        ("?project=OTHER", set()),
        ("?q=验", {"ACME-1"}),
        ("?q=验证", {"ACME-1"}),
        ("?q=验证码", {"ACME-1"}),
        ("?q=审批", {"ACME-3"}),
        ("?q=短信 登录", {"ACME-1"}),
        ("?q=export", {"ACME-2"}),
        ("?q=EXPO", {"ACME-2"}),
        ("?q=monthly report", {"ACME-2"}),
        ("?q=码验", set()),
        ("?q=nothing-like-this", set()),
        ("?q=%22)(*", set()),
        ("?q=", {"ACME-1", "ACME-2", "ACME-3"}),
    ],
)
def test_list_filters_and_search(personas, api, crs, query, expected):
    assert keys(api(personas.pm).get(URL + query)) == expected


def test_list_created_date_filters(personas, api, crs):
    today = timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    client = api(personas.pm)
    assert len(keys(client.get(f"{URL}?created_after={today}"))) == 3
    assert keys(client.get(f"{URL}?created_before={yesterday}")) == set()
    assert len(keys(client.get(f"{URL}?created_before={today}"))) == 3


def test_list_ordering(personas, api, crs):
    client = api(personas.pm)
    r = client.get(URL + "?ordering=key")
    assert [c["key"] for c in r.json()["results"]] == ["ACME-1", "ACME-2", "ACME-3"]
    r = client.get(URL + "?ordering=-key")
    assert [c["key"] for c in r.json()["results"]] == ["ACME-3", "ACME-2", "ACME-1"]
    r = client.get(URL + "?ordering=priority")
    assert [c["priority"] for c in r.json()["results"]] == ["P1", "P2", "P3"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("?state=nope", "state"),
        ("?type=x", "type"),
        ("?priority=P0", "priority"),
        ("?channel=fax", "channel"),
        ("?created_after=yesterday", "created_after"),
        ("?created_before=2024-13-01", "created_before"),
        ("?ordering=drop table", "ordering"),
        ("?page=abc", "page"),
        ("?page=-1", "page"),
        ("?page=0", "page"),
        ("?q=" + "x" * 300, "q"),
    ],
)
def test_list_bad_query_is_400_naming_it(personas, api, crs, query, field):
    r = api(personas.pm).get(URL + query)
    assert r.status_code == 400, r.content
    assert names(error_of(r), field)


def test_pagination(personas, api, crs):
    client = api(personas.pm)
    r = client.get(URL + "?page_size=2&ordering=key")
    data = r.json()
    assert data["count"] == 3
    assert [c["key"] for c in data["results"]] == ["ACME-1", "ACME-2"]
    assert "page=2" in data["next"]
    assert data["previous"] is None
    r = client.get(data["next"])
    assert [c["key"] for c in r.json()["results"]] == ["ACME-3"]
    assert r.json()["next"] is None
    assert client.get(URL + "?page=99").status_code == 404
    # A huge page size is taken as the largest one (200); an empty one as not given.
    assert len(client.get(URL + "?page_size=100000000000000000000").json()["results"]) == 3
    assert len(client.get(URL + "?page_size=").json()["results"]) == 3


@pytest.mark.parametrize("value", ["abc", "-5", "0", "000", "0.5", "true", "null", "１"])
def test_page_size_that_is_not_a_positive_whole_number_is_400(personas, api, crs, value):
    """As the schema says (an integer from 1) and as ``page``: it was silently ignored."""
    r = api(personas.pm).get(URL + f"?page_size={value}")
    assert r.status_code == 400, r.content
    assert names(error_of(r), "page_size")


def test_page_size_is_capped_at_200(personas, api):
    for i in range(205):
        ChangeRequest.objects.create(
            project=personas.project, number=1000 + i, key=f"ACME-{1000 + i}", title="t",
            description="d", created_by=personas.pm, requested_by=personas.pm,
            requested_at=timezone.localdate(),
        )  # fmt: skip
    r = api(personas.pm).get(URL + "?page_size=500")
    assert r.json()["count"] == 205
    assert len(r.json()["results"]) == 200


def test_list_query_count_does_not_grow_with_rows(personas, api, django_assert_max_num_queries):
    """Token lookup, count, one page: the same few queries for 3 rows as for 23 (no N+1)."""
    client = api(personas.pm)
    for _ in range(3):
        make_cr(personas.project, by=personas.customer, labels=["a"])
    client.get(URL)  # warm up: the token's once-a-minute "last used" touch
    with django_assert_max_num_queries(4) as few:
        assert len(client.get(URL).json()["results"]) == 3
    for _ in range(20):
        make_cr(personas.project, by=personas.pm, requested_by=personas.qa.username)
    # One query of slack for connection housekeeping; an N+1 would add 20.
    with django_assert_max_num_queries(len(few.captured_queries) + 1):
        assert len(client.get(URL + "?page_size=50").json()["results"]) == 23


# ---------------------------------------------------------------- detail and PATCH


def test_detail_has_etag_actions_assessment_and_actuals(personas, api):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer, type="feature", priority="P2"), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    r = api(p.tech_lead).get(f"{URL}{cr.key}/")
    assert r.status_code == 200
    data = r.json()
    assert r.headers["ETag"] == f'"{data["version"]}"'
    assert {a["action"] for a in data["available_actions"]} == {"return", "request_review"}
    assert data["current_assessment"]["version"] == 1
    assert data["current_assessment"]["effort_hours"] == "40.00"
    assert data["current_assessment"]["risk_count"] == 1
    expected = {
        "actual_effort_hours", "actual_cost", "actual_schedule_days", "ratification",
        "decision_mode", "description", "reason", "expected_benefit", "currency",
    }  # fmt: skip
    assert expected <= set(data)
    # What a customer may do differs: nothing here but withdraw their own CR.
    r = api(p.customer).get(f"{URL}{cr.key}/")
    assert [a["action"] for a in r.json()["available_actions"]] == ["withdraw"]


def test_detail_outsider_and_unknown_are_404(personas, api, crs):
    assert api(personas.outsider).get(f"{URL}ACME-1/").status_code == 404
    assert api(personas.pm).get(f"{URL}ACME-999/").status_code == 404
    assert api(personas.pm).get(f"{URL}OTHER-1/").status_code == 404


def test_patch_with_if_match(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    client = api(p.customer)
    r = client.get(f"{URL}{cr.key}/")
    etag = r.headers["ETag"]
    r = client.patch(f"{URL}{cr.key}/", {"title": "新标题"}, format="json", HTTP_IF_MATCH=etag)
    assert r.status_code == 200, r.content
    assert r.json()["title"] == "新标题"
    new_etag = r.headers["ETag"]
    assert new_etag != etag
    # The old ETag is stale now: 412 and nothing changes.
    r = client.patch(f"{URL}{cr.key}/", {"title": "lost"}, format="json", HTTP_IF_MATCH=etag)
    assert r.status_code == 412
    assert error_of(r)["code"] == "precondition_failed"
    assert ChangeRequest.objects.get(pk=cr.pk).title == "新标题"
    r = client.patch(f"{URL}{cr.key}/", {"title": "x"}, format="json", HTTP_IF_MATCH="garbage")
    assert r.status_code == 412
    r = client.patch(f"{URL}{cr.key}/", {"title": "any"}, format="json", HTTP_IF_MATCH="*")
    assert r.status_code == 200
    r = client.patch(f"{URL}{cr.key}/", {"labels": ["a"]}, format="json")
    assert r.status_code == 200
    assert r.json()["labels"] == ["a"]


def test_patch_history_records_old_and_new(personas, api):
    cr = make_cr(personas.project, by=personas.customer, title="旧")
    api(personas.customer).patch(f"{URL}{cr.key}/", {"title": "新"}, format="json")
    events = api(personas.customer).get(f"{URL}{cr.key}/history/").json()["results"]
    assert events[-1]["action"] == "cr.updated"
    assert events[-1]["before"] == {"title": "旧"}
    assert events[-1]["after"] == {"title": "新"}


def test_patch_forbidden_roles(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    # The requester may no longer edit once submitted; other members never could.
    for who in (p.customer, p.viewer, p.developer, p.qa):
        r = api(who).patch(f"{URL}{cr.key}/", {"title": "x"}, format="json")
        assert r.status_code == 403, who
    assert (
        api(p.tech_lead).patch(f"{URL}{cr.key}/", {"priority": "P1"}, format="json").status_code
        == 200
    )


def test_patch_outsider_404(personas, api):
    cr = make_cr(personas.project, by=personas.customer)
    r = api(personas.outsider).patch(f"{URL}{cr.key}/", {"title": "x"}, format="json")
    assert r.status_code == 404


def test_actuals_only_during_implementation(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    r = api(p.pm).patch(f"{URL}{cr.key}/", {"actual_effort_hours": "3"}, format="json")
    assert r.status_code == 422
    cr = advance(cr, p, "implementing")
    r = api(p.developer).patch(
        f"{URL}{cr.key}/",
        {"actual_effort_hours": "38.5", "actual_cost": "9000", "actual_schedule_days": 4},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["actual_effort_hours"] == "38.50"
    assert r.json()["actual_cost"] == "9000.00"


@pytest.mark.parametrize(
    "data, field",
    [
        ({"title": "x" * 201}, "title"),
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"description": "y" * 100_001}, "description"),
        ({"priority": "urgent"}, "priority"),
        ({"labels": "x"}, "labels"),
        ({"actual_effort_hours": "-1"}, "actual_effort_hours"),
        ({"actual_cost": "lots"}, "actual_cost"),
        ({"key": "ACME-9"}, "key"),
        ({"state": "closed"}, "state"),
        ({"requested_by": "pm"}, "requested_by"),
    ],
)
def test_patch_bad_input(personas, api, data, field):
    cr = make_cr(personas.project, by=personas.customer)
    r = api(personas.pm).patch(f"{URL}{cr.key}/", data, format="json")
    assert r.status_code == 400, r.content
    assert names(error_of(r), field)


def test_patch_json_array_is_400(personas, api):
    cr = make_cr(personas.project, by=personas.customer)
    r = api(personas.pm).patch(f"{URL}{cr.key}/", [{"title": "x"}], format="json")
    assert r.status_code == 400


def test_list_items_match_the_generic_serializer(personas):
    """The hand-written list row (a hot path) says exactly what the declared serializer says."""
    from rest_framework import serializers as drf

    from changeflow.changes import selectors, services
    from changeflow.changes.serializers import ChangeRequestListSerializer, list_item

    class Generic(drf.ModelSerializer):
        project = drf.CharField(source="project.key")
        requested_by = drf.CharField(source="requested_by.username")
        assignee = drf.CharField(source="assignee.username", allow_null=True)

        class Meta:
            model = ChangeRequestListSerializer.Meta.model
            fields = ChangeRequestListSerializer.Meta.fields

    p = personas
    make_cr(p.project, by=p.customer, labels=["登录", "安全"], desired_date=dt.date(2027, 1, 15))
    urgent = make_cr(p.project, by=p.pm, emergency=True, type="feature", priority="P1", submit=True)
    services.change_request_update(user=p.pm, cr=urgent, data={"assignee": p.developer.username})
    rows = list(selectors.change_request_list(user=p.pm, filters={"project": "ACME"}))
    assert len(rows) == 2
    for cr in rows:
        assert list_item(cr) == Generic(cr).data
        assert ChangeRequestListSerializer(cr).data == list_item(cr)


def test_detail_matches_the_generic_serializer(personas):
    """The hand-written detail (a hot path) says exactly what the declared serializer says."""
    from rest_framework import serializers as drf

    from changeflow.changes import selectors, services
    from changeflow.changes.serializers import ChangeRequestSerializer

    class Generic(ChangeRequestSerializer):
        pass  # a subclass takes DRF's generic path

    p = personas
    cr = advance(make_cr(p.project, by=p.customer, labels=["登录"]), p, "implementing")
    services.change_request_update(
        user=p.developer, cr=cr, data={"actual_effort_hours": "12.5", "actual_cost": "800"}
    )
    other = make_cr(p.project, by=p.pm, desired_date=dt.date(2027, 3, 1))
    for key in (cr.key, other.key):
        row = selectors.change_request_get(user=p.pm, key=key)
        assessment = services.current_assessment(row)
        context = {
            "available_actions": [{"action": "verify", "label": "Verify", "target": "closed"}],
            "current_assessment": assessment,
        }
        fast = ChangeRequestSerializer(row, context=context).data
        assert fast == Generic(row, context=context).data
        assert isinstance(Generic(row).fields["actual_cost"], drf.DecimalField)
    assert fast["actual_cost"] is None and fast["closed_at"] is None


def test_untriaged_cr_blank_fields_are_in_the_schema(personas, api):
    """Found by the schema fuzzing (test_fuzz.py): a CR nobody has triaged answers "" for
    type, priority and urgency, which the schema's enums did not allow."""
    from django.test import Client

    cr = make_cr(personas.project, by=personas.customer)
    body = api(personas.pm).get(f"/api/v1/change-requests/{cr.key}/").json()
    assert (body["type"], body["priority"], body["urgency"]) == ("", "", "")
    schemas = Client().get("/api/v1/schema/?format=json").json()["components"]["schemas"]
    for name in ("ChangeRequest", "ChangeRequestList"):
        for field in ("type", "priority", "urgency"):
            refs = [
                s["$ref"].rsplit("/", 1)[1] for s in schemas[name]["properties"][field]["oneOf"]
            ]
            assert "" in {v for ref in refs for v in schemas[ref]["enum"]}, (name, field)
