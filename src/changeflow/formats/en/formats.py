"""English pages show short dates as ISO 8601 (2026-12-07), not the American 12/07/2026: the
teams and customers who read them are in China and elsewhere, a date on a contract's change
must not read as two different days, and the pages' other dates and every date input are
already written so. Chinese keeps Django's 2026年12月7日."""

SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
