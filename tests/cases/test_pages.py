"""The case pages: the libraries, the comparison, marking and editing, rating on the CR page."""

import re

import pytest
from django.test import Client

from changeflow.cases import services
from changeflow.cases.models import Case, OutcomeRating
from tests.factories import advance, make_cr

from .helpers import closed_cr

pytestmark = pytest.mark.django_db


def client_of(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_mark_from_the_cr_page_and_see_it_there(personas):
    p = personas
    cr = closed_cr(p)
    qa = client_of(p.qa)
    page = qa.get(f"/changes/{cr.key}/").content.decode()
    assert f'href="/changes/{cr.key}/case/"' in page and "Mark as case" in page
    assert qa.get(f"/changes/{cr.key}/case/").status_code == 200
    r = qa.post(f"/changes/{cr.key}/case/", {
        "outcome": "failure", "root_causes": "短信网关限流", "lessons": "<script>x</script> **b**",
        "tags": "SMS， 第三方接口",
    })  # fmt: skip
    assert r.status_code == 302
    case = Case.objects.get()
    assert case.tags == ["sms", "第三方接口"]
    page = client_of(p.developer).get(f"/changes/{cr.key}/").content.decode()
    assert "短信网关限流" in page and "<strong>b</strong>" in page and "<script>x" not in page
    assert "+25%" in page  # the effort error
    assert "marked it as a case" in page and ">Failure<" in page  # the history, in words
    # The form shows the version read: a stale one is refused.
    r = qa.post(f"/changes/{cr.key}/case/", {"outcome": "success", "version": "1"})
    assert r.status_code == 302 and Case.objects.get().version == 2
    r = qa.post(f"/changes/{cr.key}/case/", {"outcome": "partial", "version": "1"})
    assert r.status_code == 409 and Case.objects.get().outcome == "success"


def test_bad_form_is_400(personas):
    p = personas
    cr = closed_cr(p)
    r = client_of(p.pm).post(f"/changes/{cr.key}/case/", {"outcome": "meh"})
    assert r.status_code == 400 and not Case.objects.exists()


@pytest.mark.parametrize(
    ("role", "status"),
    [("developer", 403), ("viewer", 403), ("customer", 404), ("outsider", 404)],
)
def test_who_may_not_mark(personas, role, status):
    p = personas
    cr = closed_cr(p)
    c = client_of(getattr(p, role))
    assert c.get(f"/changes/{cr.key}/case/").status_code == status
    assert c.post(f"/changes/{cr.key}/case/", {"outcome": "success"}).status_code == status
    assert not Case.objects.exists()


def test_an_open_cr_cannot_be_marked(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    assert "Mark as case" not in client_of(p.pm).get(f"/changes/{cr.key}/").content.decode()
    assert client_of(p.pm).get(f"/changes/{cr.key}/case/").status_code == 409
    assert client_of(p.pm).post(f"/changes/{cr.key}/case/", {"outcome": "success"}).status_code \
        == 409  # fmt: skip


def test_customers_rate_on_the_cr_page(personas):
    p = personas
    cr = closed_cr(p)
    services.case_mark(user=p.pm, cr=cr, outcome="success", root_causes="内部原因")
    c = client_of(p.customer)
    page = c.get(f"/changes/{cr.key}/").content.decode()
    assert "Rate the outcome" in page and "内部原因" not in page  # the case is internal
    assert c.post(f"/changes/{cr.key}/rating/", {"score": "4", "comment": "好"}).status_code == 302
    assert c.post(f"/changes/{cr.key}/rating/", {"score": "9"}).status_code == 400
    assert OutcomeRating.objects.get().score == 4
    page = client_of(p.developer).get(f"/changes/{cr.key}/").content.decode()
    assert "★★★★☆" in page and "好" in page and "Rate the outcome" not in page
    assert client_of(p.pm).post(f"/changes/{cr.key}/rating/", {"score": "5"}).status_code == 403
    assert client_of(p.outsider).post(f"/changes/{cr.key}/rating/", {"score": "5"}).status_code \
        == 404  # fmt: skip


def test_rating_an_open_cr_is_409(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    r = client_of(p.customer).post(f"/changes/{cr.key}/rating/", {"score": "5"})
    assert r.status_code == 409 and not OutcomeRating.objects.exists()


def _library(personas):
    p = personas
    a = closed_cr(p, title="登录页面支持短信验证码")
    b = closed_cr(p, title="Sales report export")
    services.case_mark(user=p.pm, cr=a, outcome="failure", tags=["sms"])
    services.case_mark(user=p.pm, cr=b, outcome="success", lessons="columns first")
    services.rating_set(user=p.customer, cr=b, score=5)
    return a, b


def test_the_libraries_search_and_filter(personas):
    p = personas
    a, b = _library(personas)
    c = client_of(p.developer)
    page = c.get(f"/projects/{p.project.key}/cases/").content.decode()
    assert a.key in page and b.key in page and "5.00" in page
    assert 'data-testid="project-rating"' in page
    page = c.get(f"/projects/{p.project.key}/cases/", {"q": "登录"}).content.decode()
    assert a.key in page and b.key not in page
    page = c.get(f"/projects/{p.project.key}/cases/", {"outcome": "success"}).content.decode()
    assert b.key in page and a.key not in page
    page = c.get("/cases/", {"tag": "sms"}).content.decode()
    assert a.key in page and b.key not in page
    partial = c.get("/cases/", {"q": "columns"}, headers={"HX-Request": "true"})
    assert partial.content.decode().lstrip().startswith('<div id="results"')
    assert c.get("/cases/", {"outcome": "meh"}).status_code == 400
    # Customers have no case library; outsiders see nothing of ACME's.
    assert client_of(p.customer).get(f"/projects/{p.project.key}/cases/").content.decode() \
        .count(a.key) == 0  # fmt: skip
    assert a.key not in client_of(p.outsider).get("/cases/").content.decode()
    assert client_of(p.outsider).get(f"/projects/{p.project.key}/cases/").status_code == 404


def test_compare_side_by_side(personas):
    p = personas
    a, b = _library(personas)
    c = client_of(p.qa)
    r = c.get("/cases/compare/", {"cases": [a.key, b.key]})
    assert r.status_code == 200
    page = r.content.decode()
    assert page.index(a.key) < page.index(b.key) and "columns first" in page
    assert len(re.findall(r"\+25%", page)) == 4  # effort and cost errors, of each case
    assert c.get("/cases/compare/", {"cases": [a.key]}).status_code == 400
    assert "Tick two to four" in c.get("/cases/compare/").content.decode()
    assert c.get("/cases/compare/", {"cases": [a.key, "ACME-999"]}).status_code == 404
    assert client_of(p.outsider).get("/cases/compare/",
                                     {"cases": [a.key, b.key]}).status_code == 404  # fmt: skip
    assert client_of(p.customer).get("/cases/compare/",
                                     {"cases": [a.key, b.key]}).status_code == 404  # fmt: skip


def test_library_pages_without_n_plus_one(personas, django_assert_max_num_queries):
    p = personas
    for i in range(5):
        cr = closed_cr(p, title=f"Case {i}")
        services.case_mark(user=p.pm, cr=cr, outcome="success", tags=[f"t{i}"])
    c = client_of(p.developer)
    c.get("/cases/")
    # As many as for one case (measured: 9 and 6).
    with django_assert_max_num_queries(9):
        assert c.get(f"/projects/{p.project.key}/cases/").status_code == 200
    with django_assert_max_num_queries(6):
        assert c.get("/cases/").status_code == 200
    keys = list(Case.objects.values_list("change_request__key", flat=True)[:4])
    with django_assert_max_num_queries(10):
        assert c.get("/cases/compare/", {"cases": keys}).status_code == 200
