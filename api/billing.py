"""``/api/v1/meters/<code>/bill`` and ``/bill/compare``: a month's bill of one of your meters (meters.billing)."""

from __future__ import annotations

from datetime import date

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
from meters.billing import bill as billing
from meters.presenters import bill_json, comparison_json
from users.models import prices_for

BILL_EXAMPLE = {
    "meter": "6f1c2a9e-0b7d-4c1e-9d8a-2f8e5b0c4a11",
    "month": "2026-11",
    "complete": True,
    "notes": [],
    "contracts": ["Engie Dynamic"],
    "total_eur": 76.67,
    "lines": [
        {"kind": "energy", "label": "Electricity: Engie Dynamic", "quantity": 288.0, "unit": "kWh",
         "unit_price_eur": 0.1, "amount_eur": 28.8},
        {"kind": "network", "label": "Network: distribution and transmission", "quantity": 288.0, "unit": "kWh",
         "unit_price_eur": 0.050503, "amount_eur": 14.54},
        {"kind": "capacity", "label": "Capacity: mean of the last 12 monthly peaks", "quantity": 2.5, "unit": "kW",
         "unit_price_eur": 4.116667, "amount_eur": 10.29},
        {"kind": "vat", "label": "VAT 6 %", "quantity": 72.33, "unit": "EUR", "unit_price_eur": 0.06,
         "amount_eur": 4.34},
    ],
}  # fmt: skip
_MONTH = OpenApiParameter("month", str, description="YYYY-MM, local calendar month; the current month when omitted.")


def _month(request: Request) -> date:
    try:
        return billing.parse_month(request.query_params.get("month"), timezone.localdate())
    except billing.InvalidMonth as exc:
        raise ParseError(str(exc)) from None


@extend_schema(
    tags=["meters"],
    summary="A month's bill of one of your meters, line by line",
    description=(
        "Every quarter-hour priced with the contract in force on its day (the profile prices before the first "
        "contract) and the tariffs of its area: `kind` is one of energy, network, capacity, fixed, levies, vat, "
        "export, gas. Amounts are rounded to the cent and add up to `total_eur`; the energy line's quantity is the "
        "month's import in kWh, as the month view shows it. `complete` is false while the month runs, when data "
        "is missing or when a quarter-hour has no day-ahead price (`notes` says which). 404 for meters that are "
        "not yours."
    ),
    parameters=[_MONTH],
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample("November", value=BILL_EXAMPLE)]),
        400: OpenApiResponse(DetailSerializer, description="Malformed month."),
        404: OpenApiResponse(DetailSerializer, description="No such meter among yours."),
    },
)
@api_view(["GET"])
@replica_reads
def meter_bill(request: Request, code: str) -> Response:
    meter = meter_for(request.user, code, Need.READ)
    return Response(bill_json(billing.month_bill(meter, _month(request), prices_for(request.user))))


@extend_schema(
    tags=["meters"],
    summary="A month's bill beside the same month under other contracts",
    description=(
        "`bill` as in `/bill`; `alternatives`: the month priced with each of your other contracts, the presets of "
        "the meter's region and, for a Walloon meter, its contract on the Impact bands, with `difference_eur` "
        "(negative is cheaper); `costly_hours`: the ten hours that cost most under a dynamic contract."
    ),
    parameters=[_MONTH],
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT),
        400: OpenApiResponse(DetailSerializer, description="Malformed month."),
        404: OpenApiResponse(DetailSerializer, description="No such meter among yours."),
    },
)
@api_view(["GET"])
@replica_reads
def meter_bill_compare(request: Request, code: str) -> Response:
    meter = meter_for(request.user, code, Need.READ)
    return Response(comparison_json(billing.compare(meter, _month(request), prices_for(request.user))))
