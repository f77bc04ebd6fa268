"""Compute every existing change request's text features at the upgrade (``impact.features``),
so that no request after it waits for 100,000 CRs to be tokenised (about 30 s on SQLite,
70 s on PostgreSQL at that size); later CRs get theirs when the history pool first sees them.

Uses the live ``features.encode``: the terms are always those of the running code, and a later
change of them bumps ``features.VERSION``, which makes the pool compute them again.
"""

from django.db import migrations

BATCH = 2000


def backfill(apps, schema_editor):
    from changeflow.impact import features

    ChangeRequest = apps.get_model("changes", "ChangeRequest")
    TextFeatures = apps.get_model("impact", "TextFeatures")
    done = set(TextFeatures.objects.values_list("change_request_id", flat=True))
    rows = ChangeRequest.objects.order_by("pk").values_list("pk", "version", "title", "description")
    batch = []
    for pk, version, title, description in rows.iterator(chunk_size=BATCH):
        if pk in done:
            continue
        batch.append(
            TextFeatures(
                change_request_id=pk, version=features.VERSION, cr_version=version,
                digest=features.digest(title, description), terms=features.encode(title, description),
            )
        )  # fmt: skip
        if len(batch) >= BATCH:
            TextFeatures.objects.bulk_create(batch, batch_size=500)
            batch = []
    TextFeatures.objects.bulk_create(batch, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("impact", "0003_textfeatures")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
