"""Mailbox passwords encrypted at rest: each stored password becomes a Fernet token under a
key derived from the site's secret key (``core.crypto``), then the plaintext column goes."""

from django.db import migrations, models

PURPOSE = "comms.mailbox.password"  # Mailbox.PASSWORD_PURPOSE


def encrypt_passwords(apps, schema_editor):
    from changeflow.core import crypto

    Mailbox = apps.get_model("comms", "Mailbox")
    for mailbox in Mailbox.objects.exclude(password="").only("pk", "password"):
        Mailbox.objects.filter(pk=mailbox.pk).update(
            password_encrypted=crypto.encrypt(mailbox.password, purpose=PURPOSE)
        )


def decrypt_passwords(apps, schema_editor):
    from changeflow.core import crypto

    Mailbox = apps.get_model("comms", "Mailbox")
    for mailbox in Mailbox.objects.exclude(password_encrypted="").only("pk", "password_encrypted"):
        try:
            plain = crypto.decrypt(mailbox.password_encrypted, purpose=PURPOSE)
        except crypto.SecretUnreadable:
            plain = ""  # unreadable with this key: to be entered again either way
        Mailbox.objects.filter(pk=mailbox.pk).update(password=plain)


class Migration(migrations.Migration):
    dependencies = [
        ("comms", "0002_mailbox_quarantine_log_sla"),
    ]

    operations = [
        migrations.AddField(
            model_name="mailbox",
            name="password_encrypted",
            field=models.TextField(blank=True, editable=False, verbose_name="password (encrypted)"),
        ),
        migrations.RunPython(encrypt_passwords, decrypt_passwords),
        migrations.RemoveField(
            model_name="mailbox",
            name="password",
        ),
    ]
