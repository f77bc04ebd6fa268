"""Query expressions the ORM lacks on both of our databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from django.db import NotSupportedError
from django.db.models import BooleanField, F, Func, IntegerField, QuerySet, Subquery, Value


class JSONArrayHas(Func):
    """Whether the JSON array in ``field`` holds the string ``value``: a condition for
    ``filter()``. Django's ``contains`` lookup on a JSONField is PostgreSQL-only."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, field: str, value: str) -> None:
        super().__init__(F(field), Value(value))

    def _operands(self, compiler, connection) -> tuple[str, str, list]:
        field, value = self.get_source_expressions()
        field_sql, field_params = compiler.compile(field)
        value_sql, value_params = compiler.compile(value)
        return field_sql, value_sql, [*field_params, *value_params]

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"JSONArrayHas is not implemented on {connection.vendor}.")

    def as_sqlite(self, compiler, connection, **extra_context):
        field, value, params = self._operands(compiler, connection)
        # Compiled SQL with placeholders (the value is a parameter), not text from a user.
        sql = f"EXISTS (SELECT 1 FROM json_each({field}) WHERE json_each.value = {value})"  # noqa: S608
        return sql, params

    def as_postgresql(self, compiler, connection, **extra_context):
        field, value, params = self._operands(compiler, connection)
        return f"({field} @> jsonb_build_array(({value})::text))", params


def count_of(qs: QuerySet) -> Subquery:
    """``qs``'s row count as a scalar subquery, to read several counts in one query."""
    counted = qs.order_by().annotate(_rows=Func(F("pk"), function="COUNT")).values("_rows")
    return Subquery(counted, output_field=IntegerField())
