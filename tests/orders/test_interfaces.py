"""Change order pages, API and CLI: allowed, forbidden (wrong role), outsider (404), anonymous;
compare-and-set; the files; query counts of the lists pinned for two sizes."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from changeflow.core.models import AuditEvent
from changeflow.orders import services
from changeflow.orders.models import ChangeOrder, OrderState
from tests.api.conftest import error_of, names
from tests.factories import PASSWORD, make_cr

from .helpers import in_review_cr, issued_order

pytestmark = pytest.mark.django_db
API = "/api/v1/projects/ACME/change-orders/"
PAGE = "/projects/ACME/change-orders/"


def _drafts(p, n: int) -> list[ChangeOrder]:
    return [
        services.change_order_create(user=p.pm, cr=make_cr(p.project, by=p.customer))
        for _ in range(n)
    ]


# ------------------------------------------------------------------ API


def test_api_lifecycle(personas, api):
    p = personas
    cr = in_review_cr(p)
    pm = api(p.pm)
    r = pm.post(API, {"change_request": cr.key, "scope": "范围说明"}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["key"] == "ACME-CO1" and body["amount"] == "12000.00"
    assert body["available_actions"] == ["edit", "issue", "withdraw"]
    one = f"{API}1/"
    r = pm.patch(one, {"amount": "9000"}, format="json", HTTP_IF_MATCH='"1"')
    assert r.status_code == 200 and r["ETag"] == '"2"'
    r = pm.patch(one, {"amount": "8000"}, format="json", HTTP_IF_MATCH='"1"')
    assert r.status_code == 412
    r = pm.patch(one, {"amount": "8000", "version": 1}, format="json")
    assert r.status_code == 409
    r = pm.patch(one, {"currency": "yuan1"}, format="json")
    assert r.status_code == 400 and names(error_of(r), "currency")
    r = pm.post(one + "issue", {}, format="json")
    assert r.status_code == 200 and r.json()["state"] == "issued"
    assert pm.patch(one, {"amount": "1"}, format="json").status_code == 409
    rep = api(p.customer_rep)
    r = rep.post(one + "sign", {"password": "nope", "signer_name": "李娜"}, format="json")
    assert r.status_code == 403 and names(error_of(r), "password")
    assert ChangeOrder.objects.get().signed_at is None
    r = rep.post(one + "sign", {"password": PASSWORD, "signer_name": "李娜"}, format="json")
    assert r.status_code == 200
    sig = r.json()["signature"]
    assert sig["signer"] == p.customer_rep.username and sig["pdf_sha256"] == r.json()["pdf_sha256"]
    pdf = rep.get(one + "pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    content = b"".join(pdf.streaming_content)
    assert hashlib.sha256(content).hexdigest() == sig["pdf_sha256"]
    cert = rep.get(one + "certificate")
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=b"".join(cert.streaming_content), capture_output=True,
        check=True,
    ).stdout.decode()  # fmt: skip
    assert "李娜" in text and sig["pdf_sha256"][:16] in text.replace("\n", "")


@pytest.mark.parametrize("who", ["tech_lead", "qa", "developer", "customer_rep", "viewer"])
def test_api_only_managers_create(personas, api, who):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    r = api(getattr(p, who)).post(API, {"change_request": cr.key}, format="json")
    assert r.status_code == 403
    assert not ChangeOrder.objects.exists()


def test_api_outsider_and_anonymous(personas, api):
    p = personas
    _cr, _order = issued_order(p)
    assert api(p.outsider).get(API).status_code == 404
    assert api(p.outsider).get(API + "1/").status_code == 404
    assert api(p.outsider).post(API + "1/sign", {}, format="json").status_code == 404
    assert api(None).get(API).status_code == 401


def test_api_customers_do_not_see_drafts_and_pm_cannot_sign(personas, api):
    p = personas
    (draft,) = _drafts(p, 1)
    assert api(p.customer).get(API).json()["count"] == 0
    assert api(p.customer).get(f"{API}{draft.number}/").status_code == 404
    assert api(p.developer).get(f"{API}{draft.number}/").status_code == 200
    _cr, order = issued_order(p)
    r = api(p.pm).post(
        f"{API}{order.number}/sign", {"password": PASSWORD, "signer_name": "x"}, format="json"
    )
    assert r.status_code == 403


def test_api_changed_file_is_409(personas, api):
    p = personas
    _cr, order = issued_order(p)
    default_storage.delete(order.html_file.name)
    default_storage.save(order.html_file.name, ContentFile(b"<p>forged</p>"))
    assert api(p.customer).get(f"{API}{order.number}/html").status_code == 409


def test_api_decline_revise_and_revisions(personas, api):
    p = personas
    _cr, order = issued_order(p)
    one = f"{API}{order.number}/"
    r = api(p.customer).post(one + "decline", {"reason": ""}, format="json")
    assert r.status_code == 400 and names(error_of(r), "reason")
    assert (
        api(p.customer).post(one + "decline", {"reason": "太贵"}, format="json").status_code == 200
    )
    r = api(p.pm).post(one + "revise", format="json")
    assert r.status_code == 201 and r.json()["revision"] == 2
    assert [x["revision"] for x in r.json()["revisions"]] == [2, 1]
    assert api(p.pm).get(one + "?revision=1").json()["state"] == "superseded"
    assert api(p.pm).get(one + "?revision=x").status_code == 400


def test_api_list_queries_do_not_grow(personas, api, django_assert_max_num_queries):
    p = personas
    issued_order(p)
    c = api(p.developer)
    c.get(API)
    with django_assert_max_num_queries(12) as few:
        assert c.get(API).json()["count"] == 1
    _drafts(p, 4)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert c.get(API).json()["count"] == 5


# ------------------------------------------------------------------ pages


def test_pages_of_the_team_and_the_customer(client, personas):
    p = personas
    cr, order = issued_order(p, title="短信验证码登录")
    client.force_login(p.developer)
    html = client.get(PAGE).content.decode()
    assert "ACME-CO1" in html
    html = client.get(f"/changes/{cr.key}/").content.decode()
    assert "ACME-CO1" in html
    html = client.get(f"{PAGE}1/").content.decode()
    assert order.pdf_sha256 in html and "短信验证码登录" in html
    assert client.get(f"{PAGE}1/sign/").status_code == 403
    client.force_login(p.customer_rep)
    r = client.get(f"{PAGE}1/sign/")
    assert r.status_code == 200 and "ACME-CO1" in r.content.decode()
    r = client.post(f"{PAGE}1/sign/", {"signer_name": "李娜", "password": "wrong"})
    assert r.status_code == 403 and ChangeOrder.objects.get().signed_at is None
    r = client.post(f"{PAGE}1/sign/", {"signer_name": "李娜", "password": PASSWORD})
    assert r.status_code == 302
    html = client.get(f"{PAGE}1/").content.decode()
    assert "李娜" in html and "download.certificate" in html
    assert "12,000.00 CNY" in html and "12000.00" not in html  # grouped, as on the document
    r = client.get(f"{PAGE}1/download.pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"


def test_pages_manager_creates_edits_issues(client, personas):
    p = personas
    cr = in_review_cr(p)
    client.force_login(p.pm)
    r = client.get(f"{PAGE}new/?cr={cr.key}")
    assert r.status_code == 200 and "12000" in r.content.decode()
    data = {"cr": cr.key, "amount": "100", "currency": "CNY", "schedule_delta_days": "3"}
    assert client.post(f"{PAGE}new/", data).status_code == 302
    order = ChangeOrder.objects.get()
    stale = {**data, "amount": "200", "version": "1"}
    assert client.post(f"{PAGE}1/edit/", {**data, "version": "1"}).status_code == 302
    ChangeOrder.objects.filter(pk=order.pk).update(version=5)
    assert client.post(f"{PAGE}1/edit/", stale).status_code == 409
    assert client.post(f"{PAGE}1/issue/").status_code == 302
    assert ChangeOrder.objects.get().state == OrderState.ISSUED
    client.force_login(p.tech_lead)
    assert client.post(f"{PAGE}1/withdraw/", {"reason": "x"}).status_code == 403
    client.force_login(p.outsider)
    assert client.get(f"{PAGE}1/").status_code == 404
    client.logout()
    assert client.get(f"{PAGE}1/").status_code == 302


def test_list_page_queries_do_not_grow(client, personas, django_assert_max_num_queries):
    p = personas
    _drafts(p, 1)
    client.force_login(p.pm)
    client.get(PAGE)
    with django_assert_max_num_queries(20) as few:
        assert client.get(PAGE).status_code == 200
    _drafts(p, 5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert "ACME-CO6" in client.get(PAGE).content.decode()


# ------------------------------------------------------------------ CLI


def test_cli_list_and_show(personas, run_cli, tmp_path):
    p = personas
    _cr, order = issued_order(p)
    code, out, _err = run_cli("order", "list", "--project", "ACME")
    assert code == 0 and "ACME-CO1\tr1\tissued" in out
    code, out, _err = run_cli("order", "show", "ACME-CO1")
    assert code == 0 and order.pdf_sha256 in out
    target = tmp_path / "o.pdf"
    code, _out, _err = run_cli("order", "show", "acme-co1", "--pdf", str(target))
    assert code == 0 and hashlib.sha256(target.read_bytes()).hexdigest() == order.pdf_sha256
    code, _out, err = run_cli("order", "show", "ACME-CO9")
    assert code == 1 and len(err.strip().splitlines()) == 1
    code, _out, err = run_cli("order", "show", "nonsense")
    assert code == 1 and "ACME-CO1" in err
    assert AuditEvent.objects.filter(action="change_order.issued").count() == 1
