"""The mailbox password at rest: a Fernet token under a key derived (HKDF) from the site's
secret key; read back only by the poller; a key change is reported on the mailbox, and the
migration encrypts the rows stored in plaintext before it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from changeflow.comms import imap
from changeflow.comms.models import Mailbox
from changeflow.comms.services import mailbox_set
from changeflow.core import crypto

PURPOSE = Mailbox.PASSWORD_PURPOSE


def test_tokens_are_random_bound_to_the_key_and_to_the_purpose(settings):
    settings.SECRET_KEY = "k1-" + "x" * 50
    one, two = (crypto.encrypt("密码 imap-pw", purpose=PURPOSE) for _ in range(2))
    assert one != two and "imap-pw" not in one  # a random IV each time
    assert crypto.decrypt(one, purpose=PURPOSE) == "密码 imap-pw"
    assert crypto.encrypt("", purpose=PURPOSE) == "" and crypto.decrypt("", purpose=PURPOSE) == ""
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(one, purpose="webhooks.secret")  # another purpose, another key
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(one[:-4] + "AAAA", purpose=PURPOSE)  # tampered
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt("not a token", purpose=PURPOSE)
    settings.SECRET_KEY = "k2-" + "y" * 50
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(one, purpose=PURPOSE)
    # Rotated with the old key as a fallback: old tokens still open, new ones use the new key.
    settings.SECRET_KEY_FALLBACKS = ["k1-" + "x" * 50]
    assert crypto.decrypt(one, purpose=PURPOSE) == "密码 imap-pw"
    fresh = crypto.encrypt("new", purpose=PURPOSE)
    settings.SECRET_KEY_FALLBACKS = []
    assert crypto.decrypt(fresh, purpose=PURPOSE) == "new"


@pytest.mark.django_db
def test_a_password_the_key_no_longer_opens_is_a_mailbox_error_not_a_crash(personas, settings):
    p = personas
    mailbox_set(
        user=p.pm, project=p.project,
        data={"host": "127.0.0.1", "port": 1, "security": "none", "username": "acme",
              "password": "imap-pw"},
    )  # fmt: skip
    settings.SECRET_KEY = "a-new-secret-key-" + "z" * 40  # e.g. a lost $CHANGEFLOW_HOME
    mailbox = Mailbox.objects.select_related("project").get()
    assert imap.poll(mailbox) == 0
    mailbox.refresh_from_db()
    assert "password cannot be decrypted" in mailbox.last_error
    assert "enter the mailbox password again" in mailbox.last_error
    assert mailbox.last_polled_at is not None and mailbox.has_password
    # Entering it again stores it under the new key: the error is now the server's (none there).
    mailbox_set(user=p.pm, project=p.project, data={"password": "imap-pw"})
    mailbox = Mailbox.objects.select_related("project").get()
    assert mailbox.get_password() == "imap-pw"
    assert imap.poll(mailbox) == 0
    mailbox.refresh_from_db()
    assert "decrypted" not in mailbox.last_error and mailbox.last_error


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_plaintext_passwords_and_back(personas):
    before = [("comms", "0002_mailbox_quarantine_log_sla")]
    after = [("comms", "0003_mailbox_password_encrypted")]
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(before)
        executor.loader.build_graph()
        old = executor.loader.project_state(before).apps.get_model("comms", "Mailbox")
        old.objects.create(
            project_id=personas.project.pk, host="imap.example.com", username="acme",
            password="plain-pw",
        )  # fmt: skip
        other = personas.other_project.pk
        old.objects.create(project_id=other, host="imap.example.com", username="o")
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        executor.loader.build_graph()
        new = executor.loader.project_state(after).apps.get_model("comms", "Mailbox")
        rows = {m.project_id: m.password_encrypted for m in new.objects.all()}
        mine, blank = rows[personas.project.pk], rows[other]
        assert crypto.decrypt(mine, purpose=PURPOSE) == "plain-pw" and "plain-pw" not in mine
        assert blank == ""
        # And back: the plaintext column returns with the password in it.
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        executor.loader.build_graph()
        old = executor.loader.project_state(before).apps.get_model("comms", "Mailbox")
        assert old.objects.get(project_id=personas.project.pk).password == "plain-pw"
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(leaves)
