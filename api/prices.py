"""``POST /api/v1/prices``: staff upload day-ahead prices, a thin wrapper around ``meters.billing.spot``.

The file comes as the multipart field ``file`` or as a ``text/csv`` body, within the ingest body limit
(``INGEST_MAX_BODY_BYTES``, 5 MiB by default: a year of ENTSO-E quarter rows is about 3.2 MB).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import IO, Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes, permission_classes
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from api.parsers import check_body_size
from api.permissions import NotADevice
from api.serializers import DetailSerializer
from meters.billing.spot import PriceFileError, PriceImport, import_prices


class CsvParser(BaseParser):
    """A ``text/csv`` body as its bytes: ``meters.billing.spot`` decodes it line by line, so a line that is not
    UTF-8 is reported by its number instead of failing the whole request."""

    media_type = "text/csv"

    # DRF takes any parsed value as request.data; the stubs allow parsers mappings only.
    def parse(  # type: ignore[override]
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> bytes:
        return bytes(stream.read())


class IsActiveStaff(BasePermission):
    message = gettext_lazy("Only staff accounts may import day-ahead prices.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_active and user.is_staff)


def _price_file(request: Request) -> str | Iterable[bytes]:
    data = request.data
    if isinstance(data, bytes):
        return io.BytesIO(data)  # iterates by line
    upload = request.FILES.get("file")
    if upload is not None:
        return upload  # an UploadedFile iterates by line too, from memory or its temporary file
    text = data.get("file") if isinstance(data, Mapping) else None
    if isinstance(text, str):
        return text  # a form field rather than a file part: curl -F file="<prices.csv"
    raise ParseError(_("Send the price file as the multipart field 'file' or as a text/csv body."))


def _result(result: PriceImport) -> dict[str, Any]:
    return {
        "rows": result.rows,
        "created": result.created,
        "updated": result.updated,
        "first": result.first.isoformat() if result.first else None,
        "last": result.last.isoformat() if result.last else None,
    }


_ENTSOE_EXAMPLE = (
    '"MTU (CET/CEST)","Area","Sequence","Day-ahead Price (EUR/MWh)","Intraday Period (CET/CEST)",'
    '"Intraday Price (EUR/MWh)"\r\n'
    '"26/10/2025 02:45:00 (CEST) - 26/10/2025 02:00:00 (CET)","BZN|BE","Without Sequence","1.20","",""\r\n'
    '"26/10/2025 02:00:00 (CET) - 26/10/2025 02:15:00 (CET)","BZN|BE","Without Sequence","22.11","",""\r\n'
)
_PLAIN_EXAMPLE = "start,price_eur_mwh\n2026-01-01T00:00:00+01:00,92.68\n2026-01-01T00:15:00+01:00,-3.5\n"
_RESULT_EXAMPLE = {
    "rows": 96,
    "created": 96,
    "updated": 0,
    "first": "2025-12-27T23:00:00+00:00",
    "last": "2025-12-28T22:45:00+00:00",
}
_ERRORS_EXAMPLE = {
    "detail": "The price file was refused; nothing was stored: "
    "line 7, column 'Day-ahead Price (EUR/MWh)': 'abc' is not a number",
    "errors": [{"line": 7, "column": "Day-ahead Price (EUR/MWh)", "message": "'abc' is not a number"}],
}

_RESULT = inline_serializer(
    "PriceImportResult",
    {
        "rows": serializers.IntegerField(min_value=0, help_text="Quarter-hours stored."),
        "created": serializers.IntegerField(min_value=0),
        "updated": serializers.IntegerField(min_value=0, help_text="Quarter-hours that had a price already."),
        "first": serializers.DateTimeField(allow_null=True, help_text="UTC start of the first quarter-hour."),
        "last": serializers.DateTimeField(allow_null=True, help_text="UTC start of the last quarter-hour."),
    },
)
_FILE_ERRORS = inline_serializer(
    "PriceFileErrors",
    {
        "detail": serializers.CharField(),
        "errors": inline_serializer(
            "PriceFileError",
            {
                "line": serializers.IntegerField(min_value=1, help_text="From 1, the header included."),
                "column": serializers.CharField(allow_null=True, help_text="null: the row or the file as a whole."),
                "message": serializers.CharField(),
            },
            many=True,
            required=False,
        ),
    },
)


def _detail(description: str, text: str) -> OpenApiResponse:
    return OpenApiResponse(
        DetailSerializer, description=description, examples=[OpenApiExample(description, value={"detail": text})]
    )


@extend_schema(
    tags=["prices"],
    summary="Import day-ahead prices (staff)",
    description=(
        "The ENTSO-E transparency export of the Belgian day-ahead prices (`MTU (CET/CEST)`, `Area` `BZN|BE`, "
        "`Day-ahead Price (EUR/MWh)`; 15- or 60-minute MTUs, the repeated autumn hour marked `(CEST)`/`(CET)`) or a "
        "plain `start,price_eur_mwh` CSV (ISO 8601 quarter starts, with an offset or in Brussels time), as the "
        "multipart field `file` or a `text/csv` body, UTF-8. Prices already stored for a quarter are overwritten. "
        "An empty, `-` or `n/e` price stores nothing for that MTU. Any bad row refuses the whole file: nothing is "
        "stored and every bad row is listed by line (from 1, the header included) and column. 201 when new "
        "quarters were stored, 200 when every quarter had a price already. Staff accounts only."
    ),
    request={
        "multipart/form-data": {
            "type": "object",
            "properties": {"file": {"type": "string", "format": "binary"}},
            "required": ["file"],
        },
        "text/csv": {"type": "string"},
    },
    examples=[
        OpenApiExample("ENTSO-E export", request_only=True, media_type="text/csv", value=_ENTSOE_EXAMPLE),
        OpenApiExample("Plain CSV", request_only=True, media_type="text/csv", value=_PLAIN_EXAMPLE),
    ],
    responses={
        200: OpenApiResponse(
            _RESULT,
            description="Stored; every quarter had a price already",
            examples=[OpenApiExample("Re-import", value={**_RESULT_EXAMPLE, "created": 0, "updated": 96})],
        ),
        201: OpenApiResponse(
            _RESULT, description="Stored", examples=[OpenApiExample("A new day", value=_RESULT_EXAMPLE)]
        ),
        400: OpenApiResponse(
            _FILE_ERRORS,
            description="A bad file, every bad row by line and column (nothing was stored); or no file",
            examples=[OpenApiExample("Bad price", value=_ERRORS_EXAMPLE)],
        ),
        401: _detail("Missing, invalid or expired token", "Authentication credentials were not provided."),
        403: _detail("Not a staff account, or a device token", "Only staff accounts may import day-ahead prices."),
        413: _detail("Body over the limit", "The request body is 6291456 bytes; the limit is 5242880 bytes."),
        415: _detail("Wrong Content-Type", 'Unsupported media type "application/json" in request.'),
    },
)
@api_view(["POST"])
@parser_classes([MultiPartParser, CsvParser])
@permission_classes([IsAuthenticated, NotADevice, IsActiveStaff])
def post_prices(request: Request) -> Response:
    check_body_size(request)
    try:
        result = import_prices(_price_file(request))
    except PriceFileError as exc:
        body = {
            "detail": _("The price file was refused; nothing was stored: %(errors)s") % {"errors": exc.summary()},
            "errors": [error.as_dict() for error in exc.errors],
        }
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    return Response(_result(result), status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)
