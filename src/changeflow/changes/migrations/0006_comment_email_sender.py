"""Comments that came by mail from someone without an account keep their sender in a field of
their own, shown in the reader's language, instead of a line written into the body in the
language of whoever ran the intake ("From X by e-mail:" / "来自 X 的邮件：")."""

import re

from django.db import migrations, models

# What comms.services wrote before, in the two languages it could write it in.
PREFIX = re.compile(r"(?:From (?P<en>.+?) by e-mail:|来自 (?P<zh>.+?) 的邮件：)\n\n", re.DOTALL)


def move_senders(apps, schema_editor):
    Comment = apps.get_model("changes", "Comment")
    InboundMessage = apps.get_model("comms", "InboundMessage")
    mailed = InboundMessage.objects.filter(comment__isnull=False, sender_user__isnull=True)
    ids = mailed.values_list("comment_id", flat=True)
    for comment in Comment.objects.filter(pk__in=ids, email_sender="").iterator():
        match = PREFIX.match(comment.body)
        if match and comment.body[match.end() :].strip():
            comment.email_sender = (match.group("en") or match.group("zh"))[:200]
            comment.body = comment.body[match.end() :]
            comment.save(update_fields=["email_sender", "body"])


def restore_prefixes(apps, schema_editor):
    """Backwards: the sender goes back into the body, so that nothing is lost."""
    Comment = apps.get_model("changes", "Comment")
    for comment in Comment.objects.exclude(email_sender="").iterator():
        comment.body = f"From {comment.email_sender} by e-mail:\n\n{comment.body}"
        comment.save(update_fields=["body"])


class Migration(migrations.Migration):
    dependencies = [
        ("changes", "0005_cr_assignee"),
        ("comms", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="comment",
            name="email_sender",
            field=models.CharField(
                blank=True, default="", max_length=200, verbose_name="e-mail sender"
            ),
        ),
        migrations.RunPython(move_senders, restore_prefixes, elidable=True),
    ]
