"""The CR list: filters, full-text search, HTMX partial, pagination, query count."""

import pytest

from changeflow.changes import services
from tests.factories import fresh, make_cr

pytestmark = pytest.mark.django_db


def _as(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def crs(personas):
    p = personas
    a = make_cr(p.project, by=p.customer, title="登录页面需要支持短信验证码", type="feature",
                description="短信登录",
                priority="P1")  # fmt: skip
    b = make_cr(p.project, by=p.pm, title="Export orders to Excel", type="modification",
                description="Monthly orders as a spreadsheet",
                priority="P3", channel="meeting", submit=True)  # fmt: skip
    c = make_cr(p.project, by=p.customer, title="报表导出", description="导出报表", type="feature")
    make_cr(p.other_project, by=p.outsider, title="Other project's secret")
    return a, b, c


def _keys(response):
    return [cr.key for cr in response.context["page"].object_list]


def test_filters_and_search(client, personas, crs):
    a, b, c = crs
    cl = _as(client, personas.developer)
    assert sorted(_keys(cl.get("/projects/ACME/"))) == sorted([a.key, b.key, c.key])
    assert _keys(cl.get("/projects/ACME/?state=submitted")) == [b.key]
    assert sorted(_keys(cl.get("/projects/ACME/?type=feature"))) == sorted([a.key, c.key])
    assert _keys(cl.get("/projects/ACME/?priority=P1")) == [a.key]
    assert _keys(cl.get("/projects/ACME/?channel=meeting")) == [b.key]
    assert _keys(cl.get("/projects/ACME/?q=验证码")) == [a.key]
    assert _keys(cl.get("/projects/ACME/?q=报表")) == [c.key]
    assert _keys(cl.get("/projects/ACME/?q=excel")) == [b.key]
    assert _keys(cl.get("/projects/ACME/?q=nothing+like+this")) == []
    assert "No change request matches" in cl.get("/projects/ACME/?q=zzz").content.decode()
    assert _keys(cl.get("/projects/ACME/?ordering=title"))[0] == b.key
    # Every visible project, the other project's CRs excluded.
    listing = cl.get("/changes/").content.decode()
    assert "Other project" not in listing and a.key in listing


def test_bad_filter_values_are_400_not_500(client, personas, crs):
    cl = _as(client, personas.pm)
    response = cl.get("/projects/ACME/?state=bogus&priority=P9&ordering=evil&page=abc")
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()
    assert cl.get("/projects/ACME/?q=" + "x" * 500).status_code == 400
    assert cl.get("/projects/ACME/?page=99999").status_code == 200


def test_htmx_gets_only_the_results_partial(client, personas, crs):
    cl = _as(client, personas.pm)
    response = cl.get("/projects/ACME/?q=验证码", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="results"')
    assert "<html" not in html and "登录页面需要支持短信验证码" in html
    assert "HX-Request" in response["Vary"]
    full = cl.get("/projects/ACME/?q=验证码").content.decode()
    assert "<html" in full and 'id="results"' in full


def test_pagination(client, personas):
    for i in range(30):
        make_cr(personas.project, by=personas.pm, title=f"变更 {i}")
    cl = _as(client, personas.pm)
    first = cl.get("/projects/ACME/?type=")
    assert len(first.context["page"].object_list) == 25
    assert "page=2" in first.content.decode()
    second = cl.get("/projects/ACME/?page=2")
    assert len(second.context["page"].object_list) == 5


def test_list_query_count_does_not_grow_with_rows(client, personas, django_assert_max_num_queries):
    p = personas
    for i in range(40):
        cr = make_cr(p.project, by=p.customer if i % 2 else p.pm, title=f"CR {i}", type="feature",
                     priority="P2")  # fmt: skip
        if i % 3 == 0:
            services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="submit")
    cl = _as(client, p.developer)
    cl.get("/projects/ACME/")  # warm the session
    # session + user + project + role + count + page: a fixed number, whatever the rows.
    with django_assert_max_num_queries(9):
        response = cl.get("/projects/ACME/")
    assert len(response.context["page"].object_list) == 25
    with django_assert_max_num_queries(9):
        cl.get("/changes/?q=CR")
