"""The OpenAPI schema is valid and generates without warnings (each one hides a wrong doc)."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command


def test_the_openapi_schema_is_valid_and_warning_free(db):
    output = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=output)
    assert output.getvalue().startswith("openapi: 3.")
