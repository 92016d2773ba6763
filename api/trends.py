"""``/api/v1/meters/<code>/trends``: the Trends page's figures of one of your meters (meters.series.trends).

The body is the JSON the page's charts draw (``meters.presenters.trends_json``): page and API cannot disagree.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers import DetailSerializer
from energy_app.routers import replica_reads
from meters.access import Need, meter_for
from meters.presenters import trends_json
from meters.series import SeriesError
from meters.series.trends import parse_range
from meters.series.trends import trends as trends_of

# An abridged answer (two of the 96 profile positions, one base-load day) for the OpenAPI documentation.
TRENDS_EXAMPLE = {
    "meter": {"code": "6f1c7f9e-3b0a-4c35-9a55-2f4e8f1d9b21", "name": "Home", "serial": "1SAG1100000292"},
    "tz": "Europe/Brussels",
    "from": "2025-12-04",
    "to": "2026-12-03",
    "profile": {
        "minutes": [0, 15],
        "weekday": {"import_w": [212.4, 205.9], "export_w": [0.0, 0.0], "quarters": [250, 250]},
        "weekend": {"import_w": [231.0, 220.3], "export_w": [0.0, 0.0], "quarters": [104, 104]},
    },
    "tariffs": {
        "import_day_kwh": 1620.512, "import_night_kwh": 1734.09, "export_day_kwh": 802.3, "export_night_kwh": 96.1,
        "import_day_pct": 48.3, "import_night_pct": 51.7, "export_day_pct": 89.3, "export_night_pct": 10.7,
        "days_known": 365,
    },
    "base_load": {
        "days": [{"day": "2025-12-04", "w": 184.0, "hour": "2025-12-04T03:00:00+01:00"}],
        "months": [{"month": "2025-12-01", "mean_w": 190.2, "days": 28}],
        "slope_w_per_month": -1.25,
    },
    "top": [{"start": "2026-01-14T18:30:00+01:00", "import_w": 7412, "import_kwh": 1.853}],
    "coverage": {"days": 365, "days_with_data": 361, "quarters_measured": 34512, "quarters_expected": 35040,
                 "pct": 98.5},
}  # fmt: skip


@extend_schema(
    tags=["meters"],
    summary="Trends of one of your meters over a range: the average day, the base load, the highest quarter-hours",
    description=(
        "Over the local days `from` to `to` (both included; default the last 12 months up to today, at most three "
        "years), from the stored quarter-hours: `profile` the mean import and export power per local wall-clock "
        "quarter-hour (`minutes` after midnight), weekdays and weekends apart, with the quarters behind each mean; "
        "`tariffs` the day/night energy as the month view totals it; `base_load` per day the lowest average import "
        "power over a whole clock hour with four measured quarter-hours and no export, its monthly means and the "
        "least-squares slope in W per month; `top` the ten highest quarter-hours (ties: the earliest); `coverage` "
        "the measured quarter-hours against those that have ended. Estimated and reset quarter-hours are left "
        "out. 404 for meters that are not yours."
    ),
    parameters=[
        OpenApiParameter("from", OpenApiTypes.DATE, required=False, description="First day; a year before `to`."),
        OpenApiParameter("to", OpenApiTypes.DATE, required=False, description="Last day (included); today."),
    ],
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample("12 months", value=TRENDS_EXAMPLE)]),
        400: OpenApiResponse(DetailSerializer, description="A malformed date, from after to, or over three years."),
        404: OpenApiResponse(DetailSerializer, description="No such meter among yours."),
    },
)
@api_view(["GET"])
@replica_reads
def meter_trends(request: Request, code: str) -> Response:
    meter = meter_for(request.user, code, Need.READ)
    try:
        first, after = parse_range(
            request.query_params.get("from"), request.query_params.get("to"), timezone.localdate()
        )
    except SeriesError as exc:
        raise ParseError(str(exc)) from None
    return Response(trends_json(trends_of(meter, first, after)))
