"""The services' text cleaning (core.validation.clean_text)."""

from __future__ import annotations

import pytest

from changeflow.core.errors import ValidationError
from changeflow.core.validation import clean_text


def test_clean_text_strips_limits_and_requires():
    assert clean_text("title", "  登录  ", 10) == "登录"
    assert clean_text("minutes", "  a\n", 10, strip=False) == "  a\n"
    assert clean_text("note", None, 10) == ""
    for value, required, message in (
        (3, False, "A text is required."),
        ("", True, "This field is required."),
        ("x" * 11, False, "At most 10 characters."),
    ):
        with pytest.raises(ValidationError) as caught:
            clean_text("title", value, 10, required=required)
        assert caught.value.fields == {"title": [message]}


def test_null_characters_are_refused_by_name():
    """PostgreSQL stores no NUL in a text column or a JSON value: refused before it is asked."""
    with pytest.raises(ValidationError) as caught:
        clean_text("lessons", "before\x00after", 100)
    assert caught.value.fields == {"lessons": ["Null characters are not allowed."]}
