"""Request parsers: JSON with exact decimals, raw P1 telegrams as text, and the ingest body-size limit."""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser, get_encoding  # type: ignore[attr-defined]  # DRF 3.18; stubs 3.16
from rest_framework.request import Request

from api.exceptions import PayloadTooLarge


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


class DecimalJSONParser(JSONParser):
    """JSON whose non-integer numbers become ``Decimal`` so 12345.678 kWh is stored exactly, never via a float.

    Raises ``ParseError`` (400) for malformed JSON, NaN/Infinity, nesting deeper than Python's recursion limit,
    and a ``charset`` that is not a text encoding (``rot13``, ``zlib``, ``base64``: ``codecs`` knows them, so
    Django passes them on, but decoding through them fails or, for ``bz2_codec``, decompresses the body).
    """

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:  # any JSON value; the views check its shape
        # DRF's own check, so the token views (DRF's JSONParser) answer such a charset with the same 400.
        encoding = get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
            return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
        except ValueError as exc:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from exc
        except RecursionError:
            # json's C scanner recurses once per [ or {: 100,000 of them exhaust the stack, not the size limit.
            raise ParseError(_("JSON parse error - the body is nested too deeply")) from None


class PlainTextParser(BaseParser):
    """``text/plain`` bodies (raw P1 telegrams) as one ``str``; ``ParseError`` (400) for text that does not decode
    and for a ``charset`` that is not a text encoding."""

    media_type = "text/plain"

    # DRF takes any parsed value as request.data; the stubs allow parsers mappings only.
    def parse(  # type: ignore[override]
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> str:
        encoding = get_encoding(parser_context or {})
        try:
            return stream.read().decode(encoding)
        except UnicodeError as exc:
            raise ParseError(_("The body is not valid %(encoding)s text.") % {"encoding": encoding}) from exc


def check_body_size(request: Request) -> None:
    """Refuse an oversized ingest body from its Content-Length, before anything reads or parses it."""
    limit = settings.INGEST_MAX_BODY_BYTES
    raw = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except ValueError:
        raise ParseError(_("Content-Length must be a whole number of bytes.")) from None
    if length > limit:
        raise PayloadTooLarge(
            _("The request body is %(length)d bytes; the limit is %(limit)d bytes.")
            % {"length": length, "limit": limit}
        )
