"""Bad input anywhere is a 4xx with the error shape, never a 500."""

import pytest

from tests.api.conftest import error_of, names
from tests.factories import make_cr

ODD = ["%00", "a%00b", "%ff%fe", "' OR 1=1 --", "😀" * 5, "x" * 300, "%2F..%2F"]


@pytest.fixture
def cr(personas):
    return make_cr(personas.project, by=personas.customer)


@pytest.mark.parametrize("value", ODD)
def test_odd_path_keys_are_404(personas, api, cr, value):
    client = api(personas.pm)
    for url in (
        f"/api/v1/projects/{value}/",
        f"/api/v1/projects/{value}/members/",
        f"/api/v1/change-requests/{value}/",
        f"/api/v1/change-requests/{value}/history/",
        f"/api/v1/change-requests/{cr.key}/attachments/1/download/",
    ):
        r = client.get(url)
        assert r.status_code == 404, (url, r.status_code)
    r = client.delete(f"/api/v1/projects/ACME/members/{value}/")
    assert r.status_code == 404


@pytest.mark.parametrize("value", ODD)
@pytest.mark.parametrize(
    "param", ["q", "project", "state", "created_after", "ordering", "page", "page_size"]
)
def test_odd_query_values_never_500(personas, api, cr, param, value):
    r = api(personas.pm).get(f"/api/v1/change-requests/?{param}={value}")
    assert r.status_code in (200, 400), r.content
    if r.status_code == 400:
        error_of(r)


@pytest.mark.parametrize("param", ["project", "actor", "object", "action", "since"])
def test_odd_audit_filters_never_500(personas, api, param):
    for value in ODD:
        r = api(personas.admin).get(f"/api/v1/audit/?{param}={value}")
        assert r.status_code in (200, 400, 404), (value, r.content)


@pytest.mark.parametrize(
    "field, value",
    [("title", "a\u0000b"), ("description", "\u0000"), ("labels", ["\u0000"]),
     ("reason", {"nested": "object"}), ("desired_date", 20300101), ("emergency", None),
     ("requested_by", "\u0000"), ("channel", ["api"]), ("title", 12345678901234567890)],
)  # fmt: skip
def test_odd_json_values_are_400(personas, api, field, value):
    body = {"project": "ACME", "title": "t", "description": "d", field: value}
    r = api(personas.pm).post("/api/v1/change-requests/", body, format="json")
    assert r.status_code in (201, 400), r.content
    if r.status_code == 400:
        assert error_of(r)["fields"]


def test_deeply_nested_json_is_400(personas, api):
    raw = b"[" * 100_000 + b"]" * 100_000
    r = api(personas.pm).post("/api/v1/change-requests/", raw, content_type="application/json")
    assert r.status_code == 400
    assert error_of(r)["code"] == "malformed"


def test_html_accept_still_gets_json(personas, api, cr):
    r = api(personas.pm).get(f"/api/v1/change-requests/{cr.key}/", HTTP_ACCEPT="text/html")
    assert r.status_code in (200, 406)
    assert r.headers["Content-Type"].startswith("application/json")


def test_unknown_method_is_405(personas, api, cr):
    r = api(personas.pm).put(f"/api/v1/change-requests/{cr.key}/", {}, format="json")
    assert r.status_code == 405
    assert error_of(r)["code"] == "method_not_allowed"


@pytest.mark.parametrize("method", ["post", "patch", "delete"])
def test_unsafe_method_on_unknown_api_path_is_json_404_even_with_a_cookie(personas, api, method):
    """Found by the schema fuzzing (test_fuzz.py): with any cookie, a write to an unknown API
    path hit the CSRF check and got the web's HTML "Form expired" page (403)."""
    client = api(personas.pm)
    client.handler.enforce_csrf_checks = True
    client.cookies["sessionid"] = "not-a-session"
    r = getattr(client, method)("/api/v1/projects/ACME/links/null/")
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")
    assert error_of(r)["code"] == "not_found"


@pytest.mark.parametrize(
    "path",
    ["/api/v1/auth/token/", "/api/v1/projects/ACME/board/", "/api/v1/projects/ACME/plan/",
     "/api/v1/notifications/preferences/", "/api/v1/change-requests/{cr}/transitions/",
     "/api/v1/change-requests/{cr}/", "/api/v1/projects/"],
)  # fmt: skip
def test_options_is_never_500(personas, api, cr, path):
    """Found by the schema fuzzing (test_fuzz.py): OPTIONS built DRF's "actions" from
    serializer_class and get_object(), which most API views do not have: a 500."""
    r = api(personas.pm).options(path.format(cr=cr.key))
    assert r.status_code == 200, r.content
    assert r.json()["name"] and "actions" not in r.json()


FLAGS = [
    ("/api/v1/notifications/", "unread"),
    ("/api/v1/projects/ACME/supervision/", "closed"),
    ("/api/v1/projects/ACME/quarantine/", "all"),
    ("/api/v1/projects/ACME/links/", "suspect"),
]


@pytest.mark.parametrize("url, param", FLAGS)
def test_true_false_query_parameters_accept_only_true_or_false(personas, api, url, param):
    """A boolean query parameter (so documented) is true/1 or false/0, empty is not given;
    anything else is a 400 naming it. ``unread``, ``closed`` and ``all`` took any other value
    as false."""
    client = api(personas.pm)
    for value in ("true", "True", "1", "false", "0", ""):
        assert client.get(f"{url}?{param}={value}").status_code == 200, (param, value)
    for value in ("2", "yes", "null", "0.5", "AAA"):
        r = client.get(f"{url}?{param}={value}")
        assert r.status_code == 400, (param, value, r.content)
        assert names(error_of(r), param)
