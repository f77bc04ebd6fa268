"""The full-text index of change requests (see ``changeflow.core.search``).

SQLite: an FTS5 table keyed by the CR's id. PostgreSQL: a tsvector per CR with a GIN index.
The documents are tokenised in Python, so both engines match Chinese and English alike.
"""

from django.db import migrations

SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE changes_cr_search USING fts5("
    "doc, tokenize = 'unicode61 remove_diacritics 2')"
)
PG_CREATE = [
    # No foreign key: Django's flush TRUNCATEs the CR table without knowing this one, and a
    # reference would make PostgreSQL refuse. CRs are never deleted (PROTECT everywhere), and
    # a search only ever selects ids that are joined back to live CRs.
    "CREATE TABLE changes_cr_search (cr_id bigint PRIMARY KEY, doc tsvector NOT NULL)",
    "CREATE INDEX changes_cr_search_doc ON changes_cr_search USING gin (doc)",
]


def create(apps, schema_editor):
    statements = PG_CREATE if schema_editor.connection.vendor == "postgresql" else [SQLITE_CREATE]
    for sql in statements:
        schema_editor.execute(sql)


def drop(apps, schema_editor):
    schema_editor.execute("DROP TABLE IF EXISTS changes_cr_search")


class Migration(migrations.Migration):
    dependencies = [("changes", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
