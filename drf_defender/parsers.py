"""A JSON parser that returns 400, not 500, to documents nested too deeply to decode."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser


class NestingSafeJSONParser(JSONParser):
    """DRF's JSON parser, with a 400 for documents nested too deeply to decode.

    ``json.load`` raises RecursionError, not ValueError, for nesting deeper than the
    interpreter's recursion limit (about 1000 levels, a body of 2 KB). DRF 3.18's parser
    turns only ValueError into a ParseError, so a view would return 500. Use this class in
    ``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]`` in place of
    ``rest_framework.parsers.JSONParser``; drf-defender's own views use it already.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise exceptions.ParseError(
                _("JSON parse error - the document is nested too deeply.")
            ) from error


#: Parser classes for drf-defender's own views: nesting-safe JSON, forms and multipart.
DEFAULT_PARSERS = [NestingSafeJSONParser, FormParser, MultiPartParser]
