"""A reply by mail from someone without an account: the project manager's account records it, and
the sender is kept beside the comment (``Comment.email_sender``), shown to each reader in their
own language, in the API and in the notifications, never written into the body."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

from changeflow.changes.models import Comment
from changeflow.notifications.models import Kind, Notification
from tests.comms.test_intake import ingest, make_mail
from tests.factories import make_cr

pytestmark = pytest.mark.django_db

STRANGER = "李雷 <wang@customer.cn>"


@pytest.fixture
def mailed(acme, django_capture_on_commit_callbacks):
    cr = ingest(acme.project, make_mail(), django_capture_on_commit_callbacks).change_request
    reply = make_mail(
        sender="wang@customer.cn", subject="回复：[%s] 进度如何？" % cr.key, body="请问进度？",
        message_id="<m3@customer.cn>",
    )  # fmt: skip
    record = ingest(acme.project, reply, django_capture_on_commit_callbacks)
    assert record.comment.author == acme.pm
    return record.comment


@pytest.mark.parametrize(
    ("language", "says"),
    [("en", "by e-mail, recorded by"), ("zh-hans", "来自电子邮件，由")],
)
def test_the_page_names_the_sender_in_the_readers_language(client, acme, mailed, language, says):
    client.force_login(acme.pm)
    page = f"/changes/{mailed.change_request.key}/"
    html = client.get(page, headers={"Accept-Language": language}).content.decode()
    assert "李雷 &lt;wang@customer.cn&gt;" in html and says in html
    assert "From 李雷" not in html and "来自 李雷" not in html


def test_the_api_gives_the_sender_beside_the_body(api, acme, mailed):
    comments = f"/api/v1/change-requests/{mailed.change_request.key}/comments/"
    response = api(acme.customer).get(comments)
    assert response.status_code == 200
    (comment,) = [c for c in response.json()["results"] if c["id"] == mailed.pk]
    assert comment["author"] == acme.pm.username
    assert comment["email_sender"] == STRANGER and comment["body"] == "请问进度？"
    # A comment written in the app has none.
    response = api(acme.customer).post(comments, {"body": "好的"}, format="json")
    assert response.status_code == 201 and response.json()["email_sender"] == ""


def test_the_notification_names_the_sender_not_the_recorder(acme, mailed):
    note = Notification.objects.filter(kind=Kind.COMMENTED, object_key=mailed.change_request.key)
    assert note.exists()
    for n in note:
        assert n.data["actor_name"] == STRANGER and n.data["excerpt"] == "请问进度？"
    with translation.override("en"):
        from changeflow.notifications.messages import headline

        assert headline(Kind.COMMENTED, note[0].data) == (
            f"{STRANGER} commented on {mailed.change_request.key}"
        )


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_the_sender_out_of_the_body_and_back(personas):
    comms = ("comms", "0004_mailbox_trusted_certificate")
    before = [("changes", "0005_cr_assignee"), comms]
    after = [("changes", "0006_comment_email_sender"), comms]
    cr = make_cr(personas.project, by=personas.customer)
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(before)
        executor.loader.build_graph()
        apps = executor.loader.project_state(before).apps
        old_comment = apps.get_model("changes", "Comment")
        inbound = apps.get_model("comms", "InboundMessage")
        bodies = {
            "en": "From 李雷 <wang@customer.cn> by e-mail:\n\n请问进度？\n\n第二段",
            "zh": "来自 Sasha <s@x.example> 的邮件：\n\nWhen?",
            "member": "From a member by e-mail:\n\nnot from intake",  # no mail record: kept
        }
        ids = {}
        for name, body in bodies.items():
            ids[name] = old_comment.objects.create(
                change_request_id=cr.pk, author_id=personas.pm.pk, body=body
            ).pk
            if name != "member":
                inbound.objects.create(
                    project_id=personas.project.pk, message_id=f"<{name}@x>",
                    comment_id=ids[name], change_request_id=cr.pk, outcome="commented",
                )  # fmt: skip
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        executor.loader.build_graph()
        new = executor.loader.project_state(after).apps.get_model("changes", "Comment")
        rows = {name: new.objects.get(pk=pk) for name, pk in ids.items()}
        assert (rows["en"].email_sender, rows["en"].body) == (STRANGER, "请问进度？\n\n第二段")
        assert (rows["zh"].email_sender, rows["zh"].body) == ("Sasha <s@x.example>", "When?")
        assert (rows["member"].email_sender, rows["member"].body) == ("", bodies["member"])
        # And back: nothing is lost.
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        executor.loader.build_graph()
        old_comment = executor.loader.project_state(before).apps.get_model("changes", "Comment")
        assert old_comment.objects.get(pk=ids["en"]).body == bodies["en"]
        assert old_comment.objects.get(pk=ids["zh"]).body == (
            "From Sasha <s@x.example> by e-mail:\n\nWhen?"
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(leaves)
        Comment.objects.all().delete()
