"""The web pages of the import (upload → preview → confirm) and the export links of the CR
list, which keep its filters."""

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from changeflow.changes.models import ChangeRequest
from tests.api.test_cr_import_export import GOOD, GOOD_OK, upload
from tests.factories import PASSWORD, make_cr

pytestmark = pytest.mark.django_db


def web(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_web_import_preview_then_confirm(personas):
    p = personas
    client = web(p.pm)
    url = reverse("cr-import", args=["ACME"])
    page = client.get(reverse("project-detail", args=["ACME"]))
    assert url in page.content.decode() and "changes/export/?format=xlsx" in page.content.decode()
    r = client.post(url, {"file": upload(GOOD)})
    assert r.status_code == 400
    assert "row 3, column 优先级: &#x27;新功能&#x27; is not one of" in r.content.decode()
    r = client.post(url, {"file": upload(GOOD_OK)})
    assert r.status_code == 200 and "2 to create, 0 skipped" in r.content.decode()
    assert not ChangeRequest.objects.exists()
    token = r.context["token"]
    r = client.post(url, {"confirm": "1", "token": token})
    assert r.status_code == 302 and ChangeRequest.objects.count() == 2
    assert "R-2" in client.get(reverse("cr-detail", args=["ACME-2"])).content.decode()
    # The token is spent.
    r = client.post(url, {"confirm": "1", "token": token})
    assert r.status_code == 302 and ChangeRequest.objects.count() == 2


def test_web_import_who_may(personas):
    p = personas
    url = reverse("cr-import", args=["ACME"])
    assert web(p.developer).get(url).status_code == 403
    assert web(p.outsider).get(url).status_code == 404
    assert Client().get(url).status_code == 302
    page = web(p.developer).get(reverse("project-detail", args=["ACME"])).content.decode()
    assert url not in page and "changes/export/?format=csv" in page


def test_web_export_keeps_the_filters(personas):
    p = personas
    make_cr(p.project, by=p.pm, title="Wanted", priority="P1")
    make_cr(p.project, by=p.pm, title="Other", priority="P4")
    client = web(p.pm)
    page = client.get(reverse("project-detail", args=["ACME"]), {"priority": "P1"})
    assert "?priority=P1&amp;format=csv" in page.content.decode()
    r = client.get(reverse("cr-export", args=["ACME"]), {"priority": "P1", "format": "csv"})
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[2] for row in rows[1:]] == ["Wanted"]
    r = client.get(reverse("cr-export", args=["ACME"]), {"format": "doc"})
    assert r.status_code == 400
    assert web(p.outsider).get(reverse("cr-export", args=["ACME"])).status_code == 404
