"""The OpenAPI schema's generator class (``DEFAULT_SCHEMA_CLASS``): drf-spectacular's, served
in each reader's language."""

from __future__ import annotations

import copy

from drf_spectacular import openapi
from rest_framework.serializers import BaseSerializer


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's ``AutoSchema``, reading a copy of each serializer *instance* it is
    given (``@extend_schema(responses=Foo(many=True))``). Such an instance is made once, at
    import, and keeps the fields it builds the first time they are read, with their labels in
    the language active then: the schema served first (English, say) fixed the field titles of
    every later one, ``?lang=zh-hans`` included. A copy builds its fields afresh."""

    def resolve_serializer(self, serializer, direction, bypass_extensions=False):
        if isinstance(serializer, BaseSerializer):
            fresh = copy.deepcopy(serializer)  # DRF copies a field from its arguments...
            fresh.partial = serializer.partial  # ... and a PATCH body's is set after (Patched…)
            serializer = fresh
        return super().resolve_serializer(serializer, direction, bypass_extensions)
