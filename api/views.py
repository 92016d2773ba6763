"""REST API views: thin wrappers around ``meters.services.ingest_readings`` and owner-scoped querysets.

Request/response documentation (with examples) lives in ``api.schema``; the prototype's JSON in ``api.prototype``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Count, Max, Min, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.decorators import api_view, parser_classes, throttle_classes
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt import views as jwt_views

from api import schema
from api.exceptions import PayloadTooLarge
from api.parsers import DecimalJSONParser, PlainTextParser, check_body_size
from api.prototype import item_from_prototype, prototype_field, reading_to_prototype
from api.serializers import DetailSerializer, MeterSerializer, ReadingSerializer
from api.series import SERIES_EXAMPLE, series_to_dict
from api.telegrams import telegram_items
from api.throttling import IngestRateThrottle, TokenRateThrottle
from meters.models import Meter, Reading
from meters.series import SeriesError, build_series, parse_day
from meters.services import (
    IngestError,
    IngestRejected,
    IngestResult,
    ingest_readings,
    normalise_serial,
    parse_timestamp,
    slot_start,
)
from meters.views import _get_meter_for_user

logger = logging.getLogger(__name__)

# Largest integer id the databases accept; longer digit strings are simply "not found".
_MAX_ID = 2**63 - 1


def _rejected(
    errors: Sequence[IngestError],
    rename: Callable[[str], str] = str,
    positions: Sequence[int] | None = None,
) -> Response:
    """400 listing every bad item by index (or telegram position) and field."""
    body = [
        {
            "index": positions[error.index] if positions is not None and error.index < len(positions) else error.index,
            "field": rename(error.field),
            "message": error.message,
        }
        for error in errors
    ]
    return Response({"errors": body}, status=status.HTTP_400_BAD_REQUEST)


def _counts(result: IngestResult) -> dict:
    return {
        "created": result.created,
        "duplicates": result.duplicates,
        "registered_serials": list(result.registered_serials),
    }


# --- tokens (SimpleJWT), at the prototype's /api-auth/ paths and under /api/v1/ ------------------


@schema.token_obtain
class TokenObtainPairView(jwt_views.TokenObtainPairView):
    throttle_classes = (TokenRateThrottle,)


@schema.token_refresh
class TokenRefreshView(jwt_views.TokenRefreshView):
    throttle_classes = (TokenRateThrottle,)


# --- the prototype's endpoints -------------------------------------------------------------------


@schema.set_data
@api_view(["POST"])
@parser_classes([DecimalJSONParser])
@throttle_classes([IngestRateThrottle])
def set_data(request: Request) -> Response:
    check_body_size(request)
    if not isinstance(request.data, dict):
        raise ParseError("Expected one JSON object with the prototype's reading keys.")
    item = item_from_prototype(request.data)
    try:
        result = ingest_readings(request.user, [item])
    except IngestRejected as exc:
        return _rejected(exc.errors, rename=prototype_field)
    # The item passed validation, so its timestamp parses; the id lets the device check it via getData.
    slot = slot_start(parse_timestamp(item["timestamp"]))
    serial = normalise_serial(item["serial"])  # valid: ingest accepted it
    reading_id = Reading.objects.filter(meter__serial=serial, timestamp=slot).values_list("pk", flat=True)
    body = {"id": reading_id.first(), "created": bool(result.created), "duplicate": not result.created}
    return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


@schema.get_data
@api_view(["GET"])
def get_data(request: Request, reading_id: str) -> Response:
    if not (reading_id.isascii() and reading_id.isdigit()) or int(reading_id) > _MAX_ID:
        raise NotFound()
    readings = Reading.objects.select_related("meter")
    if not request.user.is_staff:
        readings = readings.filter(meter__owner=request.user)
    return Response(reading_to_prototype(get_object_or_404(readings, pk=int(reading_id))))


# --- /api/v1/ ingest -------------------------------------------------------------------------------


@schema.post_readings
@api_view(["POST"])
@parser_classes([DecimalJSONParser])
@throttle_classes([IngestRateThrottle])
def post_readings(request: Request) -> Response:
    check_body_size(request)
    data = request.data
    items = data.get("readings") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ParseError('Expected a JSON object {"readings": [...]}.')
    if len(items) > settings.INGEST_MAX_BATCH:
        raise PayloadTooLarge(f"{len(items)} readings in one request; the limit is {settings.INGEST_MAX_BATCH}.")
    try:
        result = ingest_readings(request.user, items)
    except IngestRejected as exc:
        return _rejected(exc.errors)
    return Response(_counts(result))


@schema.post_telegrams
@api_view(["POST"])
@parser_classes([PlainTextParser])
@throttle_classes([IngestRateThrottle])
def post_telegrams(request: Request) -> Response:
    check_body_size(request)
    try:
        batch = telegram_items(request.data if isinstance(request.data, str) else "")
    except IngestRejected as exc:
        return _rejected(exc.errors)
    if len(batch.items) > settings.INGEST_MAX_BATCH:
        raise PayloadTooLarge(
            f"The telegrams span {len(batch.items)} quarter-hours; the limit is {settings.INGEST_MAX_BATCH}."
        )
    try:
        result = ingest_readings(request.user, batch.items)
    except IngestRejected as exc:
        return _rejected(exc.errors, positions=batch.positions)
    return Response({**_counts(result), "telegrams": batch.telegram_count, "readings": len(batch.items)})


# --- /api/v1/ owner-scoped reads ------------------------------------------------------------------


@schema.meter_list
class MeterListView(generics.ListAPIView):
    serializer_class = MeterSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Meter]:
        return Meter.objects.filter(owner=self.request.user).annotate(
            reading_count=Count("readings"),
            first_reading_at=Min("readings__timestamp"),
            last_reading_at=Max("readings__timestamp"),
        )


class _OutsideCalendar(ValueError):
    """A well-formed date-time whose UTC time is not in the years 1-9999."""


def _utc_datetime(text: str) -> datetime | None:
    """``text`` (ISO 8601; naive means settings.TIME_ZONE) as an aware UTC datetime, or None when it is no date-time.

    Raises ``_OutsideCalendar`` for e.g. 0001-01-01T00:00:00+01:00. Converting here, before the ORM sees the
    value, is what keeps PostgreSQL from refusing offsets beyond +-15:59, which Python accepts up to +-23:59.
    """
    try:
        value = parse_datetime(text)
    except ValueError:  # the right shape but no such date (2024-02-30) or hour
        return None
    if value is None:
        return None
    try:
        return (timezone.make_aware(value) if timezone.is_naive(value) else value).astimezone(UTC)
    except OverflowError:
        raise _OutsideCalendar(text) from None


class ReadingPagination(CursorPagination):
    ordering = "timestamp"
    page_size = 672  # one week of quarter-hours
    page_size_query_param = "page_size"
    max_page_size = 5000

    def decode_cursor(self, request: Request):
        """DRF's cursor with its position checked: the client sends it back, and it ends in a ``timestamp__gt``
        filter, where anything but a date-time in range was a 500. A forged one gets DRF's 404 "Invalid cursor"."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        try:
            moment = _utc_datetime(cursor.position)
        except _OutsideCalendar:
            moment = None
        if moment is None:
            raise NotFound(self.invalid_cursor_message)
        # str() of a UTC datetime is how DRF writes a stored timestamp's position, so its page links still match.
        return cursor._replace(position=str(moment))


def _time_param(request: Request, name: str) -> datetime | None:
    """The ``from``/``to`` query parameter as an aware UTC datetime (None when absent); ``ParseError`` (400) for
    text that is not an ISO 8601 date-time and for one outside the calendar."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    # An unencoded "+01:00" in a query string arrives as " 01:00".
    candidates = (raw, raw.replace(" ", "+"))
    for candidate in candidates:
        try:
            value = _utc_datetime(candidate)
        except _OutsideCalendar:
            raise ParseError(
                f"'{name}' is outside the calendar (its UTC time must fall in the years 1 to 9999), got {raw!r}."
            ) from None
        if value is not None:
            return value
    raise ParseError(f"'{name}' must be an ISO 8601 date-time such as 2024-03-01T00:00:00+01:00, got {raw!r}.")


@schema.reading_list
class ReadingListView(generics.ListAPIView):
    serializer_class = ReadingSerializer
    pagination_class = ReadingPagination

    def get_queryset(self) -> QuerySet[Reading]:
        meter = _get_meter_for_user(self.request, self.kwargs["code"])
        start = _time_param(self.request, "from")
        end = _time_param(self.request, "to")
        if start and end and start > end:
            raise ParseError("'from' must not be after 'to'.")
        readings = Reading.objects.filter(meter=meter)
        if start:
            readings = readings.filter(timestamp__gte=start)
        if end:
            readings = readings.filter(timestamp__lt=end)
        return readings


# --- /api/v1/ dashboard series -----------------------------------------------------------------------


@extend_schema(
    tags=["meters"],
    summary="Day, week or month series of one of your meters (the dashboards' data)",
    description=(
        "Buckets at local wall-time boundaries (Europe/Brussels): day = 92/96/100 quarter-hours, week = Monday to "
        "Sunday in 4-hour buckets, month = local days. Energy per bucket = register at the end boundary minus the "
        "register at the start boundary; `estimated` buckets were interpolated across missing readings, `null` "
        "values mean no data on one side; `reset` marks a register that went down. Month adds the capacity peak "
        "and the 12-month card. 404 for meters that are not yours."
    ),
    parameters=[
        OpenApiParameter("view", str, enum=["day", "week", "month"], default="day"),
        OpenApiParameter("date", OpenApiTypes.DATE, description="Any day inside the period; today when omitted."),
    ],
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample("A day", value=SERIES_EXAMPLE)]),
        400: OpenApiResponse(DetailSerializer, description="Unknown view or malformed date."),
        404: OpenApiResponse(DetailSerializer, description="No such meter among yours."),
    },
)
@api_view(["GET"])
def meter_series(request: Request, code: str) -> Response:
    meter = _get_meter_for_user(request, code)
    try:
        day = parse_day(request.query_params.get("date"))
        series = build_series(meter, request.query_params.get("view", "day"), day)
    except SeriesError as exc:
        raise ParseError(str(exc)) from None
    return Response(series_to_dict(series))
