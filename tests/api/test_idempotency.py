"""Idempotency-Key on every write."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from changeflow.changes.models import Attachment, ChangeRequest, Comment
from changeflow.core.models import AuditEvent, IdempotencyRecord
from tests.api.conftest import error_of
from tests.factories import make_cr

URL = "/api/v1/change-requests/"
BODY = {"project": "ACME", "title": "幂等", "description": "d"}


def post(client, body=BODY, key="k-1", url=URL):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_and_body_returns_the_first_answer_and_changes_nothing(personas, api):
    client = api(personas.pm)
    first = post(client)
    assert first.status_code == 201
    events = AuditEvent.objects.count()
    again = post(client)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert ChangeRequest.objects.count() == 1
    assert AuditEvent.objects.count() == events


def test_a_replay_is_the_first_answer_byte_for_byte(personas, api):
    """Found by the stateful fuzzing (test_fuzz_stateful.py) on PostgreSQL: the first answer was
    kept in a jsonb column, which reorders an object's keys, so a replay had the same fields in
    another order. (SQLite kept the order: this fails on PostgreSQL with the old code.)"""
    client = api(personas.pm)
    first = post(client)
    again = post(client, url=URL)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    comment = f"{URL}{first.json()['key']}/comments/"
    first = post(client, {"body": "同一个"}, key="k-2", url=comment)
    assert post(client, {"body": "同一个"}, key="k-2", url=comment).content == first.content


def test_same_key_different_body_is_422(personas, api):
    client = api(personas.pm)
    post(client)
    r = post(client, {**BODY, "title": "other"})
    assert r.status_code == 422
    assert error_of(r)["code"] == "idempotency_key_reused"
    assert ChangeRequest.objects.count() == 1
    # The same key on another path is another request too.
    cr = ChangeRequest.objects.get()
    r = post(client, {"body": "x"}, url=f"{URL}{cr.key}/comments/")
    assert r.status_code == 422


def test_keys_are_per_user_and_distinct_keys_are_distinct_requests(personas, api):
    post(api(personas.pm))
    assert post(api(personas.tech_lead)).status_code == 201
    assert post(api(personas.pm), key="k-2").status_code == 201
    assert ChangeRequest.objects.count() == 3


def test_without_a_key_every_post_acts(personas, api):
    client = api(personas.pm)
    client.post(URL, BODY, format="json")
    client.post(URL, BODY, format="json")
    assert ChangeRequest.objects.count() == 2


def test_failed_requests_are_not_stored(personas, api):
    client = api(personas.pm)
    r = post(client, {**BODY, "title": ""})
    assert r.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    # Fixed body, same key: it runs.
    assert post(client).status_code == 201


def test_transition_replay_does_not_fail_with_409(personas, api):
    cr = make_cr(personas.project, by=personas.customer)
    client = api(personas.customer)
    url = f"{URL}{cr.key}/transitions/"
    r1 = post(client, {"action": "submit"}, url=url)
    r2 = post(client, {"action": "submit"}, url=url)
    assert r1.status_code == r2.status_code == 200
    assert r2.json()["state"] == "submitted"
    assert AuditEvent.objects.filter(action="cr.submit").count() == 1


def test_patch_and_delete_and_comment(personas, api):
    cr = make_cr(personas.project, by=personas.customer)
    client = api(personas.pm)
    for _ in range(2):
        r = client.patch(f"{URL}{cr.key}/", {"priority": "P1"}, format="json",
                         HTTP_IDEMPOTENCY_KEY="p", HTTP_IF_MATCH='"1"')  # fmt: skip
        assert r.status_code == 200  # the replay does not trip over the stale If-Match
    assert ChangeRequest.objects.get(pk=cr.pk).version == 2
    for _ in range(2):
        assert (
            post(client, {"body": "一次"}, key="c", url=f"{URL}{cr.key}/comments/").status_code
            == 201
        )
    assert Comment.objects.count() == 1
    url = f"/api/v1/projects/ACME/members/{personas.viewer.username}/"
    assert client.delete(url, HTTP_IDEMPOTENCY_KEY="d").status_code == 204
    assert client.delete(url, HTTP_IDEMPOTENCY_KEY="d").status_code == 204
    assert client.delete(url).status_code == 404


def test_multipart_upload_replay(personas, api):
    cr = make_cr(personas.project, by=personas.customer)
    client = api(personas.pm)

    def send(content=b"%PDF-1.4 x"):
        f = SimpleUploadedFile("a.pdf", content, "application/pdf")
        return client.post(f"{URL}{cr.key}/attachments/", {"file": f}, format="multipart",
                           HTTP_IDEMPOTENCY_KEY="u")  # fmt: skip

    assert send().status_code == 201
    assert send().status_code == 201
    assert Attachment.objects.count() == 1
    assert send(b"%PDF-1.4 other").status_code == 422


def test_a_keyed_upload_reaches_the_view_whole(personas, api):
    # The fingerprint reads every upload: the view must still read it from its first byte
    # (a backtest or a plan import reads the file with read(), not chunks()).
    csv = b"size,effort\n10,100\n20,210\n15,160\n30,290\n25,260\n"
    client = api(personas.pm)

    def send():
        f = SimpleUploadedFile("history.csv", csv, "text/csv")
        return client.post("/api/v1/estimation/backtest/", {"file": f, "target": "effort",
                           "k": 2}, format="multipart", HTTP_IDEMPOTENCY_KEY="b")  # fmt: skip

    first = send()
    assert first.status_code == 200, first.content
    assert first.json()["n"] == 5
    again = send()
    assert (again.status_code, again.json()) == (200, first.json())


def test_expired_records_are_ignored(personas, api):
    client = api(personas.pm)
    post(client)
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    assert post(client).status_code == 201
    assert ChangeRequest.objects.count() == 2


def test_expired_records_are_purged_by_the_next_keyed_write(personas, api):
    client = api(personas.pm)
    post(client, key="old-1")
    post(client, body={**BODY, "title": "二"}, key="old-2")
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    post(client, body={**BODY, "title": "三"}, key="new")
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_a_request_in_flight_is_409(personas, api):
    client = api(personas.pm)
    post(client)
    IdempotencyRecord.objects.update(status=0, response=None)
    r = post(client)
    assert r.status_code == 409
    assert error_of(r)["code"] == "idempotency_in_progress"


@pytest.mark.parametrize("key", ["", "x" * 256, "ключ"])
def test_invalid_key_is_400(personas, api, key):
    r = post(api(personas.pm), key=key)
    assert r.status_code == 400
    assert "Idempotency-Key" in error_of(r)["fields"]
    assert not ChangeRequest.objects.exists()


@pytest.mark.parametrize("key", ["ключ", "k-1"])
def test_a_method_the_endpoint_does_not_have_is_405_whatever_the_key(personas, api, key):
    """The method is checked first: PUT on the change request list is a 405 with a malformed
    key too (it was a 400 about the key), and a good key is not claimed by it."""
    r = api(personas.pm).put(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert r.status_code == 405, r.content
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["k", "a key", "~" * 255, "", " ", "x" * 256, "ключ", "a\tb", "ü"])
def test_the_schema_states_the_keys_the_server_accepts(personas, api, key):
    """The OpenAPI schema's Idempotency-Key (length, characters) is the server's: a key is
    accepted exactly when it matches the documented schema. It was a bare string, so clients
    (and the fuzzing) sent keys that the server refused with a 400."""
    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"][URL]["post"]
    (declared,) = [p["schema"] for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    documented = (
        declared["minLength"] <= len(key) <= declared["maxLength"]
        and re.search(declared["pattern"], key) is not None
    )
    r = post(api(personas.pm), key=key)
    assert r.status_code == (201 if documented else 400), (key, r.content)


def test_token_endpoint_answers_are_never_stored(personas):
    from rest_framework.test import APIClient

    from tests.factories import PASSWORD

    client = APIClient()
    body = {"username": personas.pm.username, "password": PASSWORD}
    t1 = client.post("/api/v1/auth/token/", body, format="json", HTTP_IDEMPOTENCY_KEY="t")
    t2 = client.post("/api/v1/auth/token/", body, format="json", HTTP_IDEMPOTENCY_KEY="t")
    assert t1.json()["token"] != t2.json()["token"]
    assert not IdempotencyRecord.objects.exists()
