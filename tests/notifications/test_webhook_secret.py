"""The webhook secret at rest: a Fernet token under a key derived (HKDF) from the site's
secret key, decrypted only to sign a delivery; a secret the key no longer opens fails the
delivery with a clear reason (never a crash, never an unsigned request); the migration
encrypts the rows stored in plaintext before it, and back."""

import hashlib
import hmac

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from changeflow.core import crypto
from changeflow.notifications import services
from changeflow.notifications.models import DeliveryState, Webhook, WebhookDelivery
from tests.api.conftest import api as api  # noqa: F401  (the fixture)

PURPOSE = Webhook.SECRET_PURPOSE
SECRET = "SECrest0123456789"


def make(p, receiver, secret=SECRET):
    return services.webhook_create(
        user=p.pm, project=p.project,
        data={"url": receiver.url, "kind": "generic", "events": ["*"], "secret": secret},
    )  # fmt: skip


@pytest.mark.django_db
def test_stored_encrypted_and_used_to_sign(p, live, receiver):
    hook = make(p, receiver)
    stored = Webhook.objects.values_list("secret_encrypted", flat=True).get()
    assert stored and SECRET not in stored
    assert crypto.decrypt(stored, purpose=PURPOSE) == SECRET
    with pytest.raises(crypto.SecretUnreadable):  # bound to its purpose
        crypto.decrypt(stored, purpose="comms.mailbox.password")
    with live():
        services.webhook_test(user=p.pm, hook=hook)
    (req,) = receiver.requests
    h = req["headers"]
    expected = hmac.new(
        SECRET.encode(), h["X-Changeflow-Timestamp"].encode() + b"." + req["raw"], hashlib.sha256
    ).hexdigest()
    assert h["X-Changeflow-Signature"] == f"sha256={expected}"
    # Changing other fields keeps it; a new one replaces it; "" removes it.
    services.webhook_update(user=p.pm, hook=hook, data={"name": "renamed"})
    hook.refresh_from_db()
    assert hook.get_secret() == SECRET
    services.webhook_update(user=p.pm, hook=hook, data={"secret": "SECnew"})
    hook.refresh_from_db()
    assert hook.get_secret() == "SECnew" and hook.has_secret
    services.webhook_update(user=p.pm, hook=hook, data={"secret": ""})
    hook.refresh_from_db()
    assert not hook.has_secret and hook.secret_encrypted == ""


@pytest.mark.django_db
def test_audit_never_holds_the_secret(p, receiver):
    from changeflow.core.models import AuditEvent

    hook = make(p, receiver)
    services.webhook_update(user=p.pm, hook=hook, data={"secret": "SECother999"})
    events = list(AuditEvent.objects.filter(object_type="webhook").values("before", "after"))
    assert len(events) == 2 and events[-1]["after"]["secret_set"] is True
    text = repr(events)
    assert SECRET not in text and "SECother999" not in text and "secret_encrypted" not in text


@pytest.mark.django_db
def test_a_secret_the_key_no_longer_opens_fails_the_delivery_unsent(p, live, receiver, settings):
    hook = make(p, receiver)
    settings.SECRET_KEY = "a-new-secret-key-" + "z" * 40  # e.g. a lost $CHANGEFLOW_HOME
    with live():
        delivery = services.webhook_test(user=p.pm, hook=hook)
    delivery.refresh_from_db()
    assert receiver.requests == []  # never sent unsigned
    assert delivery.state == DeliveryState.FAILED and delivery.finished_at is not None
    assert "secret cannot be decrypted" in delivery.error
    assert "enter the secret again" in delivery.error
    # Not retried: the retry job leaves it alone.
    assert services.retry_due() == 0
    # Entering it again stores it under the new key, and the next delivery is signed.
    services.webhook_update(user=p.pm, hook=hook, data={"secret": SECRET})
    with live():
        services.webhook_test(user=p.pm, hook=hook)
    (req,) = receiver.requests
    assert req["headers"]["X-Changeflow-Signature"].startswith("sha256=")
    assert WebhookDelivery.objects.filter(state=DeliveryState.SENT).count() == 1


@pytest.mark.django_db
def test_the_api_and_page_are_write_only(p, api, client, receiver):
    hook = make(p, receiver)
    r = api(p.pm).get(f"/api/v1/projects/ACME/webhooks/{hook.pk}/")
    assert r.status_code == 200 and r.json()["secret_set"] is True
    body = r.content.decode()
    assert SECRET not in body and hook.secret_encrypted not in body and "6789" not in body
    client.force_login(p.pm)
    page = client.get(f"/projects/ACME/webhooks/{hook.pk}/").content.decode()
    assert SECRET not in page and hook.secret_encrypted not in page
    assert 'name="secret"' in page and 'value="SEC' not in page


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_plaintext_secrets_and_back(personas):
    before = [("notifications", "0002_kind_assigned")]
    after = [("notifications", "0003_webhook_secret_encrypted")]
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(before)
        executor.loader.build_graph()
        old = executor.loader.project_state(before).apps.get_model("notifications", "Webhook")
        signed = old.objects.create(
            project_id=personas.project.pk, url="https://example.com/h", kind="generic",
            events=["*"], secret="plain-secret",
        )  # fmt: skip
        unsigned = old.objects.create(
            project_id=personas.project.pk, url="https://example.com/u", kind="slack",
            events=["*"],
        )  # fmt: skip
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        executor.loader.build_graph()
        new = executor.loader.project_state(after).apps.get_model("notifications", "Webhook")
        rows = dict(new.objects.values_list("pk", "secret_encrypted"))
        token = rows[signed.pk]
        assert crypto.decrypt(token, purpose=PURPOSE) == "plain-secret"
        assert "plain-secret" not in token and rows[unsigned.pk] == ""
        # And back: the plaintext column returns with the secret in it.
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        executor.loader.build_graph()
        old = executor.loader.project_state(before).apps.get_model("notifications", "Webhook")
        assert dict(old.objects.values_list("pk", "secret")) == {
            signed.pk: "plain-secret",
            unsigned.pk: "",
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(leaves)
