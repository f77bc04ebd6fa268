"""A whole site in one file and back: ``changeflow backup FILE`` and ``changeflow restore FILE``.

The archive is a **zip** file. Zip rather than tar.gz because its members are found by name
through the central directory: ``restore`` reads the manifest, checks every member's checksum
and refuses a bad archive before it writes anything, reading each member as a stream of its
own, without unpacking the rest to disk; a tar.gz is one compressed stream that must be read
from the start for each of these. Zip64 keeps large archives working, and every operating
system opens one. Its members:

- ``manifest.json``: the format and its version, when and by which changeflow the archive was
  made, from which database vendor, the migrations applied per app, the rows per model, the
  SHA-256 of every other member, and a fingerprint (never the key) of the secret key that
  encrypts the stored secrets (``core.crypto``: mailbox passwords, webhook secrets);
- ``data/<app>.<model>.jsonl``: each model's rows in Django's JSON Lines serialization (what
  ``dumpdata`` writes), in dependency order. Foreign keys to models with a natural key (users)
  are written as natural keys; primary keys are kept, because other rows name them outside
  any foreign key (the audit events' objects, whose hash chain must verify after a restore).
  Content types and permissions are not in it: ``migrate`` makes them, and the rows that
  refer to them do so by natural key, whatever their ids on the target database;
- ``media/<name>``: every file of the default storage (attachments, kept mail, the review
  reports' and change orders' files), but the imports' staged files (``imports/``, a session's).

The data is read in one read-only transaction (on PostgreSQL a REPEATABLE READ snapshot, on
SQLite a deferred read transaction of the WAL), so a write committed meanwhile is either all in
the backup or not at all. The archive is streamed into a temporary file beside FILE and renamed
into place when complete: a failed backup leaves no FILE behind.

``restore`` loads into an empty database (migrating it first when it is not), in one
transaction with the media files: on any failure nothing is written and the files it wrote are
removed. Then it resets PostgreSQL's sequences, rebuilds the search index, and verifies the
audit chain.

``archive`` holds what both share, ``dump`` the backup, ``load`` the restore.
"""

from .archive import BackupError, Summary, dumped_models
from .dump import backup, read_snapshot
from .load import restore

__all__ = ["BackupError", "Summary", "backup", "dumped_models", "read_snapshot", "restore"]
