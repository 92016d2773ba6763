"""REST API views: thin wrappers around ``meters.ingest.ingest_readings``, querysets scoped by ``meters.access``
and the series service.

Request/response documentation (with examples) lives in ``api.schema``; the prototype's JSON in ``api.prototype``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db.models import Case, Count, Max, Min, OuterRef, QuerySet, Subquery, Value, When
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import parse_etags, urlencode
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from p1edge import wire
from rest_framework import generics, status
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    parser_classes,
    permission_classes,
    throttle_classes,
)
from rest_framework.exceptions import NotFound, ParseError, Throttled
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt import views as jwt_views

from api import schema
from api.exceptions import PayloadTooLarge
from api.parsers import DecimalJSONParser, PlainTextParser, check_body_size
from api.prototype import item_from_prototype, prototype_field, reading_to_prototype
from api.serializers import DetailSerializer, DeviceSerializer, MeterSerializer, ReadingSerializer
from api.series import SERIES_EXAMPLE
from api.telegrams import telegram_items
from api.throttling import (
    DeviceCodeRateThrottle,
    DeviceTokenRateThrottle,
    IngestRateThrottle,
    TokenRateThrottle,
)
from energy_app.routers import ReplicaReadsMixin, replica_reads
from meters import devices, live
from meters.access import Need, device_for, meter_for, owned_devices, readable_meters, readings_visible_to
from meters.exports import RangeError, parse_range, utc_datetime
from meters.ingest import BatchTooLarge, IngestError, IngestRejected, IngestResult, ingest_readings
from meters.models import Device, Meter, MeterShare, Reading
from meters.presenters import live_etag, live_json, live_response, series_json
from meters.series import SeriesError, build_series, compare, parse_day
from users.lockout import client_ip
from users.models import prices_for

# Largest integer id the databases accept; longer digit strings are simply "not found".
_MAX_ID = 2**63 - 1


def _rejected(
    errors: Sequence[IngestError],
    rename: Callable[[str], str] = str,
    positions: Sequence[int] | None = None,
) -> Response:
    """400 listing every bad item by index (or telegram position) and field, in the shape of ``p1edge.wire``."""
    body = wire.error_body(
        [
            (
                positions[error.index] if positions is not None and error.index < len(positions) else error.index,
                rename(error.field),
                error.message,
            )
            for error in errors
        ]
    )
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _ingest(request: Request, items: Sequence[Any], *, return_ids: bool = False) -> IngestResult:
    """``ingest_readings`` for the request's account, with its batch limit as the API's 413; a paired device's
    upload is remembered on the device (the Devices page lists its meters)."""
    try:
        result = ingest_readings(request.user, items, return_ids=return_ids)
    except BatchTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from None
    if isinstance(request.auth, Device):
        devices.record_upload(request.auth, result.meter_ids)
    return result


def _counts(result: IngestResult) -> dict[str, Any]:
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
        raise ParseError(_("Expected one JSON object with the prototype's reading keys."))
    item = item_from_prototype(request.data)
    try:
        result = _ingest(request, [item], return_ids=True)
    except IngestRejected as exc:
        return _rejected(exc.errors, rename=prototype_field)
    # The id lets the device check the stored reading via getData.
    body = {"id": result.reading_ids[0], "created": bool(result.created), "duplicate": not result.created}
    return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


@schema.get_data
@api_view(["GET"])
def get_data(request: Request, reading_id: str) -> Response:
    if not (reading_id.isascii() and reading_id.isdigit()) or int(reading_id) > _MAX_ID:
        raise NotFound()
    readings = readings_visible_to(request.user).select_related("meter")
    return Response(reading_to_prototype(get_object_or_404(readings, pk=int(reading_id))))


# --- /api/v1/ ingest -------------------------------------------------------------------------------


@schema.post_readings
@api_view(["POST"])
@parser_classes([DecimalJSONParser])
@throttle_classes([IngestRateThrottle])
@permission_classes([IsAuthenticated])  # without NotADevice: what a paired device is for
def post_readings(request: Request) -> Response:
    check_body_size(request)
    data = request.data
    items = data.get("readings") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ParseError(_('Expected a JSON object {"readings": [...]}.'))
    try:
        result = _ingest(request, items)
    except IngestRejected as exc:
        return _rejected(exc.errors)
    return Response(_counts(result))


@schema.post_telegrams
@api_view(["POST"])
@parser_classes([PlainTextParser])
@throttle_classes([IngestRateThrottle])
@permission_classes([IsAuthenticated])  # without NotADevice: what a paired device is for
def post_telegrams(request: Request) -> Response:
    check_body_size(request)
    try:
        batch = telegram_items(request.data if isinstance(request.data, str) else "")
    except IngestRejected as exc:
        return _rejected(exc.errors)
    try:
        result = _ingest(request, batch.items)
    except IngestRejected as exc:
        return _rejected(exc.errors, positions=batch.positions)
    return Response({**_counts(result), "telegrams": batch.telegram_count, "readings": len(batch.items)})


@schema.post_live
@api_view(["POST"])
@parser_classes([DecimalJSONParser])
# No rate throttle: its shared history costs four cache round trips on every snapshot. meters.live refuses a second
# snapshot of one meter within LIVE_MIN_INTERVAL_SECONDS instead, from the snapshot it reads anyway.
@throttle_classes([])
@permission_classes([IsAuthenticated])  # without NotADevice: a paired Pi sends these
def post_live(request: Request) -> Response:
    check_body_size(request)
    try:
        snapshot = live.receive_snapshot(request.user, request.data)
    except IngestRejected as exc:
        return _rejected(exc.errors)
    except live.UnknownMeter as exc:
        raise NotFound(
            _("No meter %(serial)s among yours yet; it appears after its first quarter-hour upload.") % {"serial": exc}
        ) from None
    except live.TooSoon as exc:
        raise Throttled(wait=exc.retry_after, detail=str(exc)) from None
    return Response(
        {"accepted": True, "received_at": snapshot.received_at.isoformat()}, status=status.HTTP_202_ACCEPTED
    )


# --- /api/v1/ owner-scoped reads ------------------------------------------------------------------


@schema.meter_list
class MeterListView(generics.ListAPIView):
    serializer_class = MeterSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Meter]:
        user = self.request.user  # authenticated: the API denies anonymous requests by default
        shared = MeterShare.objects.filter(meter=OuterRef("pk"), user_id=user.pk or 0).values("role")[:1]
        return readable_meters(user).annotate(
            role=Case(When(owner_id=user.pk, then=Value("owner")), default=Subquery(shared)),
            reading_count=Count("readings"),
            first_reading_at=Min("readings__timestamp"),
            last_reading_at=Max("readings__timestamp"),
        )


class ReadingPagination(CursorPagination):
    ordering = "timestamp"
    page_size = 672  # one week of quarter-hours
    page_size_query_param = "page_size"
    max_page_size = 5000

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF's cursor with its position checked: the client sends it back, and it ends in a ``timestamp__gt``
        filter, where anything but a date-time in range was a 500. A forged one gets DRF's 404 "Invalid cursor"."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        # drf-stubs type Cursor.position as int; DRF's is text (a query-string value, or str() of the ordering field).
        moment = utc_datetime(cursor.position)  # type: ignore[arg-type]
        if moment is None:
            raise NotFound(self.invalid_cursor_message)
        # str() of a UTC datetime is how DRF writes a stored timestamp's position, so its page links still match.
        return cursor._replace(position=str(moment))  # type: ignore[arg-type]


@schema.reading_list
class ReadingListView(ReplicaReadsMixin, generics.ListAPIView):
    serializer_class = ReadingSerializer
    pagination_class = ReadingPagination

    def get_queryset(self) -> QuerySet[Reading]:
        meter = meter_for(self.request.user, self.kwargs["code"], Need.READ)
        params = self.request.query_params
        try:
            period = parse_range(params.get("from"), params.get("to"))
        except RangeError as exc:
            raise ParseError(str(exc)) from None
        readings = Reading.objects.filter(meter=meter)
        if period.start:
            readings = readings.filter(timestamp__gte=period.start)
        if period.end:
            readings = readings.filter(timestamp__lt=period.end)
        return readings


# --- /api/v1/ dashboard series -----------------------------------------------------------------------


@extend_schema(
    tags=["meters"],
    summary="Day, week, month or year series of one of your meters (the dashboards' data)",
    description=(
        "Buckets at local wall-time boundaries (Europe/Brussels): day = 92/96/100 quarter-hours, week = Monday to "
        "Sunday in 4-hour buckets, month = local days, year = local months. Energy per bucket = register at the end "
        "boundary minus the register at the start boundary; `estimated` buckets were interpolated across missing "
        "readings, `null` values mean no data on one side; `reset` marks a register that went down. Month adds the "
        "capacity peak and the 12-month card; year adds each month's peak with its 12-month mean "
        "(`capacity_months`) and the days without data per month (`missing_days`). With `compare=previous` or "
        "`compare=year`, `compare` holds the other period lined up by position (hour of day, day of week, day of "
        "month, month; null where it has no counterpart) and the differences over the positions both have. "
        "404 for meters that are not yours."
    ),
    parameters=[
        OpenApiParameter("view", str, enum=["day", "week", "month", "year"], default="day"),
        OpenApiParameter("date", OpenApiTypes.DATE, description="Any day inside the period; today when omitted."),
        OpenApiParameter(
            "compare",
            str,
            enum=["previous", "year"],
            required=False,
            description="Also the previous period, or the same period a year before.",
        ),
    ],
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample("A day", value=SERIES_EXAMPLE)]),
        400: OpenApiResponse(DetailSerializer, description="Unknown view or comparison, or a malformed date."),
        404: OpenApiResponse(DetailSerializer, description="No such meter among yours."),
    },
)
@api_view(["GET"])
@replica_reads
def meter_series(request: Request, code: str) -> Response:
    meter = meter_for(request.user, code, Need.READ)
    try:
        day = parse_day(request.query_params.get("date"))
        prices = prices_for(request.user)
        series = build_series(meter, request.query_params.get("view", "day"), day, prices=prices)
        mode = request.query_params.get("compare")
        comparison = compare(series, mode, prices=prices) if mode else None
    except SeriesError as exc:
        raise ParseError(str(exc)) from None
    return Response(series_json(series, comparison))


@schema.meter_live
@api_view(["GET"])
@replica_reads
def meter_live(request: Request, code: str) -> Response:
    meter = meter_for(request.user, code, Need.READ)
    state = live.live_status(meter, prices_for(request.user))
    etag = live_etag(live_json(state))
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(live_response(state), headers=headers)


# --- /api/v1/ device pairing (RFC 8628) and the account's devices ---------------------------------------------


@schema.device_code
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([DeviceCodeRateThrottle])
def device_code(request: Request) -> Response:
    data = request.data if isinstance(request.data, Mapping) else {}
    code = devices.start_pairing(data.get("name"), client_ip(request._request) or "")
    verify = request.build_absolute_uri(reverse("meters:device"))
    return Response(
        {
            "device_code": code.device_code,
            "user_code": code.user_code,
            "verification_uri": verify,
            "verification_uri_complete": f"{verify}?{urlencode({'user_code': code.user_code})}",
            "expires_in": code.expires_in,
            "interval": code.interval,
        }
    )


@schema.device_token
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([DeviceTokenRateThrottle])
def device_token(request: Request) -> Response:
    data = request.data if isinstance(request.data, Mapping) else {}
    try:
        token, _device = devices.issue_token(data.get("grant_type"), data.get("device_code"))
    except devices.PairingError as exc:
        # RFC 6749 section 5.2: the error body of a token endpoint, not DRF's {"detail": ...}.
        return Response({"error": exc.error, "error_description": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"access_token": token, "token_type": "Bearer"}, headers={"Cache-Control": "no-store"})


@schema.device_list
class DeviceListView(generics.ListAPIView):
    serializer_class = DeviceSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Device]:
        return owned_devices(self.request.user).prefetch_related("meters")


@schema.device_detail
class DeviceDetailView(generics.DestroyAPIView):
    """DELETE revokes the device: its token is refused from then on ("device revoked")."""

    def get_object(self) -> Device:
        return device_for(self.request.user, self.kwargs["device_id"])

    def perform_destroy(self, instance: Device) -> None:
        devices.revoke_device(instance)
