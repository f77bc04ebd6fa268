"""Baselines and their items are append-only in the database itself (PostgreSQL), as the audit
trail is: the models refuse to save or delete a baseline twice, and these triggers refuse a raw
UPDATE or DELETE from anything else (a script, a shell, a bad migration). TRUNCATE, which only
an administrator's reset or the test runner's flush uses, is not a row trigger's business."""

from django.db import migrations

TABLES = ("requirements_baseline", "requirements_baselineitem")

TRIGGER = """
CREATE OR REPLACE FUNCTION {table}_refuse() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only: %% refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {table}_refuse();
"""
DROP = """
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
DROP FUNCTION IF EXISTS {table}_refuse();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(TRIGGER.format(table=table))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(DROP.format(table=table))


class Migration(migrations.Migration):
    dependencies = [("requirements", "0003_changesets")]
    operations = [migrations.RunPython(forwards, backwards)]
