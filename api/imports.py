"""``POST /api/v1/meters/<code>/imports/fluvius``: import a Mijn Fluvius export for one of your meters
(meters.fluvius; docs/design.md, "Mijn Fluvius import")."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import ParseError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers import DetailSerializer
from meters.access import Need, meter_for
from meters.fluvius.imports import ImportRefused, import_file

REPORT_EXAMPLE = {
    "file": "Verbruikshistoriek_elektriciteit_541448820000000000_20231012_20261011_kwartiertotalen.csv",
    "refused": False, "kinds": {"quarter": 420480}, "rows": 420480, "stored": 420480, "created": 420480,
    "updated": 0, "unchanged": 0, "skipped": 0, "ignored": 0, "error_count": 0, "errors": [],
    "first": "2023-10-11T22:00:00+00:00", "last": "2026-10-10T21:45:00+00:00",
    "reconciliation": {"days_compared": 30, "flagged": 1, "days": [
        {"day": "2026-10-02", "register": "import_t1", "p1_kwh": 12.1, "fluvius_kwh": 12.345,
         "difference_kwh": -0.245, "percent": -2.0, "estimated": False}]},
}  # fmt: skip
_TRUE = frozenset({"1", "true", "on", "yes"})


@extend_schema(
    tags=["meters"],
    summary="Import the history of one of your meters from a Mijn Fluvius export",
    description=(
        "Multipart form: `file`, the CSV downloaded from Mijn Fluvius (quarter-hour totals, day totals, monthly "
        "peaks or gas; every header variant, Dutch or English), and optionally `skip_errors=true` to store the good "
        "rows of a file with bad ones. Idempotent: re-importing stores nothing twice (`unchanged`). A file for "
        "another meter, one that is no export, or one with bad rows (without `skip_errors`) is refused with 400: "
        "`detail` and `errors` by `line` and `column`; nothing is stored. `reconciliation` lists the days on which "
        "the Pi and Fluvius differ by more than 0.1 kWh and 1 %. Owner only: 404 for other meters."
    ),
    request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}, "skip_errors": {"type": "boolean"}}}},
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample("Three years", value=REPORT_EXAMPLE)]),
        400: OpenApiResponse(OpenApiTypes.OBJECT, description="Refused: `detail`, `errors` by line and column."),
        404: OpenApiResponse(DetailSerializer, description="No such meter among yours."),
    },
)  # fmt: skip
@api_view(["POST"])
@parser_classes([MultiPartParser])
def fluvius_import(request: Request, code: str) -> Response:
    meter = meter_for(request.user, code, Need.OWN)
    upload = request.FILES.get("file")
    if upload is None:
        raise ParseError(_("Send the Mijn Fluvius export as the multipart field 'file'."))
    skip = str(request.data.get("skip_errors", "")).strip().lower() in _TRUE
    try:
        report = import_file(meter, upload, skip_errors=skip, user=request.user, file_name=upload.name or "")
    except ImportRefused as exc:
        return Response({"detail": str(exc), **exc.report.as_dict()}, status=status.HTTP_400_BAD_REQUEST)
    return Response(report.as_dict())
