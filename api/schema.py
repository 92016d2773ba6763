"""OpenAPI documentation of every endpoint (drf-spectacular), with request and response examples.

Kept apart from the views so they stay short; each name here is a decorator applied to one view.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)

from api.serializers import (
    PROTOTYPE_READING_SCHEMA,
    PROTOTYPE_REQUEST_SCHEMA,
    READINGS_REQUEST_SCHEMA,
    DetailSerializer,
    DeviceSerializer,
    ErrorListSerializer,
    IngestResultSerializer,
    MeterSerializer,
    ReadingSerializer,
    SetDataResultSerializer,
    TelegramResultSerializer,
)

TAG_TOKENS = "tokens"
TAG_PROTOTYPE = "prototype (api-auth)"
TAG_INGEST = "ingest"
TAG_READ = "meters"
TAG_DEVICES = "devices"

_READING = {
    "serial": "1SAG1100000292",
    "timestamp": "2024-03-01T10:15:00+01:00",
    "measured_at": "2024-03-01T10:15:00+01:00",
    "import_t1_kwh": 12345.678,
    "import_t2_kwh": 9876.543,
    "export_t1_kwh": 1234.5,
    "export_t2_kwh": 321.0,
    "tariff": 1,
    "power_import_kw": 0.512,
    "power_export_kw": 0.0,
    "l1_import_kw": 0.512,
    "l1_export_kw": 0.0,
    "l1_voltage_v": 231.4,
    "l1_current_a": 2.31,
    "breaker_state": 1,
}


def _detail(description: str, text: str) -> OpenApiResponse:
    return OpenApiResponse(
        DetailSerializer, description=description, examples=[OpenApiExample(description, value={"detail": text})]
    )


_FIELD_ERRORS = OpenApiResponse(
    {
        "type": "object",
        "additionalProperties": {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
    },
    description="Missing or malformed fields (lists per field), or unreadable JSON (detail)",
    examples=[OpenApiExample("Missing field", value={"username": ["This field is required."]})],
)
_UNAUTHORISED = _detail("Missing, invalid or expired token", "Authentication credentials were not provided.")
_THROTTLED = _detail("Too many requests; see Retry-After", "Request was throttled. Expected available in 42 seconds.")
_TOO_LARGE = _detail("Body or batch over the limit", "1001 readings in one request; the limit is 1000.")
_BAD_MEDIA = _detail("Wrong Content-Type", 'Unsupported media type "application/xml" in request.')
_DEVICE_FORBIDDEN = _detail(
    "A device token used for anything but uploads",
    "A device token may only upload readings and live snapshots (/api/v1/readings, /api/v1/telegrams, /api/v1/live).",
)
_NOT_FOUND = _detail("Unknown, or not yours", "No Meter matches the given query.")
_PARSE = _detail("Malformed request", "JSON parse error - Expecting value: line 1 column 1 (char 0)")
# A 400 is either the item list ({"errors": [...]}) or a request-level problem ({"detail": ...}).
_BAD_REQUEST = PolymorphicProxySerializer(
    component_name="IngestBadRequest",
    serializers=[ErrorListSerializer, DetailSerializer],
    resource_type_field_name=None,
)
_ITEM_ERRORS = OpenApiResponse(
    _BAD_REQUEST,
    description="Invalid items, each by index and field; nothing was stored",
    examples=[
        OpenApiExample(
            "Invalid item",
            value={"errors": [{"index": 3, "field": "import_t1_kwh", "message": "This field is required."}]},
        )
    ],
)

token_obtain = extend_schema(
    tags=[TAG_TOKENS],
    summary="Get an access and a refresh token",
    description="Access tokens live 5 minutes, refresh tokens 1 day (settings). Throttled per client IP.",
    examples=[
        OpenApiExample("Credentials", value={"username": "alice", "password": "..."}, request_only=True),
        OpenApiExample("Tokens", value={"access": "eyJhbGciOi...", "refresh": "eyJhbGciOi..."}, response_only=True),
    ],
    responses={
        200: OpenApiResponse(description="Token pair"),
        400: _FIELD_ERRORS,
        401: _detail("Wrong username or password", "No active account found with the given credentials"),
        415: _BAD_MEDIA,
        429: _THROTTLED,
    },
)

token_refresh = extend_schema(
    tags=[TAG_TOKENS],
    summary="Exchange a refresh token for a new access token",
    examples=[
        OpenApiExample("Refresh token", value={"refresh": "eyJhbGciOi..."}, request_only=True),
        OpenApiExample("New tokens", value={"access": "eyJhbGciOi...", "refresh": "eyJhbGciOi..."}, response_only=True),
    ],
    responses={
        200: OpenApiResponse(description="New access token and its rotated refresh token"),
        400: _FIELD_ERRORS,
        401: _detail("Invalid or expired refresh token", "Token is invalid"),
        415: _BAD_MEDIA,
        429: _THROTTLED,
    },
)

set_data = extend_schema(
    tags=[TAG_PROTOTYPE],
    summary="Store one reading in the prototype's JSON",
    description=(
        "Kept for devices running the student prototype. Values may be numbers or numeric strings; "
        "`tijdstip` is Europe/Brussels local time (`YYYYMMDDhhmmss`, optionally with the meter's S/W letter, or "
        "`YYYY-MM-DD HH:MM:SS`) or ISO 8601 with an offset. Unknown keys are ignored. Errors name the prototype's "
        "keys. A reading is written by staff for any serial, otherwise for your own or a new serial."
    ),
    request={"application/json": PROTOTYPE_REQUEST_SCHEMA},
    examples=[
        OpenApiExample(
            "As the prototype's reader sent it",
            request_only=True,
            value={
                "tijdstip": "20240301101500",
                "switch": "1.0",
                "serialmeter": "1SAG1100000292",
                "currentrate": "0001",
                "totaldayconsumption": "12345.678",
                "totalnightconsumption": "9876.543",
                "totaldayproduction": "1234.5",
                "totalnightproduction": "321.0",
                "l1consumption": "0.512",
                "currentconsumption": "0.512",
                "l1production": "0.0",
                "currentproduction": "0.0",
                "l1voltage": "231.4",
                "l1current": "2.31",
                "Gas consumption": "2345.678",
            },
        ),
    ],
    responses={
        201: OpenApiResponse(
            SetDataResultSerializer,
            description="Stored",
            examples=[OpenApiExample("Stored", value={"id": 42, "created": True, "duplicate": False})],
        ),
        200: OpenApiResponse(
            SetDataResultSerializer,
            description="This quarter-hour was already stored; nothing changed",
            examples=[OpenApiExample("Duplicate", value={"id": 42, "created": False, "duplicate": True})],
        ),
        400: OpenApiResponse(
            _BAD_REQUEST,
            description="Invalid reading (prototype key names), or not one JSON object",
            examples=[
                OpenApiExample(
                    "Missing register",
                    value={"errors": [{"index": 0, "field": "totaldayconsumption", "message": "Required."}]},
                )
            ],
        ),
        401: _UNAUTHORISED,
        413: _TOO_LARGE,
        415: _BAD_MEDIA,
        429: _THROTTLED,
    },
)

get_data = extend_schema(
    tags=[TAG_PROTOTYPE],
    summary="One stored reading in the prototype's JSON",
    description="Staff see any reading, other users only readings of their own meters (404 otherwise).",
    parameters=[OpenApiParameter("reading_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Reading id")],
    responses={
        200: OpenApiResponse(
            PROTOTYPE_READING_SCHEMA,
            description="The reading",
            examples=[
                OpenApiExample(
                    "Reading",
                    value={
                        "id": 42,
                        "tijdstip": "2024-03-01T10:15:00+01:00",
                        "switch": 1,
                        "serialmeter": "1SAG1100000292",
                        "currentrate": 1,
                        "totaldayconsumption": 12345.678,
                        "totalnightconsumption": 9876.543,
                        "totaldayproduction": 1234.5,
                        "totalnightproduction": 321.0,
                        "l1consumption": 0.512,
                        "l2consumption": None,
                        "l3consumption": None,
                        "currentconsumption": 0.512,
                        "l1production": 0.0,
                        "l2production": None,
                        "l3production": None,
                        "currentproduction": 0.0,
                        "l1voltage": 231.4,
                        "l2voltage": None,
                        "l3voltage": None,
                        "l1current": 2.31,
                        "l2current": None,
                        "l3current": None,
                    },
                )
            ],
        ),
        401: _UNAUTHORISED,
        404: _NOT_FOUND,
    },
)

post_readings = extend_schema(
    tags=[TAG_INGEST],
    summary="Store a batch of quarter-hour readings (atomic, idempotent)",
    description=(
        "Up to INGEST_MAX_BATCH (1000) readings and INGEST_MAX_BODY_BYTES per request, else 413. All are stored "
        "or none: a 400 lists every bad item by index and field. A reading for a slot that is already stored "
        "counts as a duplicate. Unknown serials are registered to the caller; staff may write any serial."
    ),
    request={"application/json": READINGS_REQUEST_SCHEMA},
    examples=[OpenApiExample("One reading", value={"readings": [_READING]}, request_only=True)],
    responses={
        200: OpenApiResponse(
            IngestResultSerializer,
            description="Stored",
            examples=[
                OpenApiExample(
                    "Result", value={"created": 95, "duplicates": 1, "registered_serials": ["1SAG1100000292"]}
                )
            ],
        ),
        400: _ITEM_ERRORS,
        401: _UNAUTHORISED,
        413: _TOO_LARGE,
        415: _BAD_MEDIA,
        429: _THROTTLED,
    },
)

post_telegrams = extend_schema(
    tags=[TAG_INGEST],
    summary="Store raw P1 telegrams (text/plain)",
    description=(
        "One or more complete telegrams (`/` ... `!CRC`), parsed with the edge's parser (dsmr-parser, "
        "BELGIUM_FLUVIUS, CRC checked). The first telegram of each quarter-hour per meter becomes a reading. "
        "A telegram with a bad CRC or no equipment id is reported by its position (from 0); nothing is stored."
    ),
    request={"text/plain": {"type": "string"}},
    examples=[
        OpenApiExample(
            "Telegram",
            request_only=True,
            media_type="text/plain",
            value=(
                "/FLU5\\253769484_A\r\n\r\n0-0:96.1.4(50217)\r\n0-0:96.1.1(3153414731313030303030323932)\r\n"
                "0-0:1.0.0(240301101500W)\r\n1-0:1.8.1(012345.678*kWh)\r\n1-0:1.8.2(009876.543*kWh)\r\n"
                "1-0:2.8.1(001234.500*kWh)\r\n1-0:2.8.2(000321.000*kWh)\r\n0-0:96.14.0(0001)\r\n"
                "1-0:1.7.0(00.512*kW)\r\n1-0:2.7.0(00.000*kW)\r\n!XXXX\r\n"
            ),
        )
    ],
    responses={
        200: OpenApiResponse(
            TelegramResultSerializer,
            description="Stored",
            examples=[
                OpenApiExample(
                    "Result",
                    value={"created": 1, "duplicates": 0, "registered_serials": [], "telegrams": 900, "readings": 1},
                )
            ],
        ),
        400: OpenApiResponse(
            _BAD_REQUEST,
            description="Telegrams that cannot become readings, by position; nothing was stored",
            examples=[
                OpenApiExample(
                    "Bad CRC", value={"errors": [{"index": 2, "field": "telegram", "message": "CRC mismatch"}]}
                )
            ],
        ),
        401: _UNAUTHORISED,
        413: _TOO_LARGE,
        415: _BAD_MEDIA,
        429: _THROTTLED,
    },
)

meter_list = extend_schema(
    tags=[TAG_READ],
    summary="Your meters",
    responses={
        200: OpenApiResponse(
            MeterSerializer(many=True),
            description="Meters you own",
            examples=[
                OpenApiExample(
                    "Meters",
                    value=[
                        {
                            "code": "3f0c9a8e-5b7d-4c1e-9a51-2d6f1e0b7c44",
                            "serial": "1SAG1100000292",
                            "name": "Home",
                            "reading_count": 35040,
                            "first_reading_at": "2023-01-01T00:00:00+01:00",
                            "last_reading_at": "2023-12-31T23:45:00+01:00",
                        }
                    ],
                )
            ],
        ),
        401: _UNAUTHORISED,
    },
)

reading_list = extend_schema(
    tags=[TAG_READ],
    summary="Readings of one of your meters",
    description=(
        "Ordered by time, cursor-paginated. `from` and `to` mean what they mean in the CSV export: each a local "
        "date (YYYY-MM-DD) or an ISO 8601 date-time (naive: Europe/Brussels); the period runs from `from` up to, "
        "not including, `to`, where a date names its whole local day (`from=2024-03-01&to=2024-03-01` is that "
        "day). Years 2000 to 2100. 404 if not your meter."
    ),
    parameters=[
        OpenApiParameter("code", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The meter's public code"),
        OpenApiParameter("from", OpenApiTypes.STR, description="2024-03-01 or 2024-03-01T00:00:00+01:00, inclusive"),
        OpenApiParameter(
            "to", OpenApiTypes.STR, description="2024-03-01 (through the end of that day) or a date-time (exclusive)"
        ),
    ],
    responses={
        200: OpenApiResponse(
            ReadingSerializer(many=True),
            description="A page of readings",
            examples=[
                OpenApiExample(
                    "Page",
                    value={
                        "next": "http://example.org/api/v1/meters/3f0c.../readings/?cursor=cD0yMDI0",
                        "previous": None,
                        "results": [
                            {
                                key: (str(value) if isinstance(value, float) else value)
                                for key, value in _READING.items()
                                if key != "serial"
                            }
                        ],
                    },
                )
            ],
        ),
        400: _detail(
            "Bad from/to",
            "'from' must be a date (YYYY-MM-DD) or an ISO 8601 date-time such as 2024-03-01T00:00:00+01:00, "
            "got 'yesterday'.",
        ),
        401: _UNAUTHORISED,
        404: _NOT_FOUND,
    },
)


_DEVICE_CODE_RESPONSE = {
    "type": "object",
    "required": ["device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in", "interval"],
    "properties": {
        "device_code": {"type": "string", "description": "Secret of the device; send it to /api/v1/device/token."},
        "user_code": {"type": "string", "description": "What the owner types on /device/, e.g. WDJB-MJHT."},
        "verification_uri": {"type": "string", "format": "uri"},
        "verification_uri_complete": {"type": "string", "format": "uri"},
        "expires_in": {"type": "integer", "description": "Seconds the codes stay valid."},
        "interval": {"type": "integer", "description": "Seconds to wait between polls."},
    },
}
_OAUTH_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "string",
            "enum": [
                "authorization_pending",
                "slow_down",
                "access_denied",
                "expired_token",
                "invalid_grant",
                "invalid_request",
                "unsupported_grant_type",
            ],
        },
        "error_description": {"type": "string"},
    },
}

device_code = extend_schema(
    tags=[TAG_DEVICES],
    summary="Start pairing a device (RFC 8628 device authorization request)",
    description=(
        "No credentials. The device shows `user_code` and `verification_uri` to its owner, who approves it on "
        "/device/ while the device polls /api/v1/device/token every `interval` seconds. Throttled per address."
    ),
    request={
        "application/json": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 100}}},
        "application/x-www-form-urlencoded": {"type": "object", "properties": {"name": {"type": "string"}}},
    },
    responses={
        200: OpenApiResponse(
            _DEVICE_CODE_RESPONSE,
            description="The codes",
            examples=[
                OpenApiExample(
                    "Codes",
                    value={
                        "device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
                        "user_code": "WDJB-MJHT",
                        "verification_uri": "https://p1.example.org/device/",
                        "verification_uri_complete": "https://p1.example.org/device/?user_code=WDJB-MJHT",
                        "expires_in": 600,
                        "interval": 5,
                    },
                )
            ],
        ),
        400: _PARSE,
        415: _BAD_MEDIA,
        429: _THROTTLED,
    },
)

device_token = extend_schema(
    tags=[TAG_DEVICES],
    summary="Poll for the device token (RFC 8628 device access token request)",
    description=(
        "`grant_type=urn:ietf:params:oauth:grant-type:device_code` and the `device_code`. Until the owner decides: "
        "400 `authorization_pending`; polled sooner than `interval`: 400 `slow_down` (wait 5 s longer from then "
        "on); then `access_denied` or `expired_token`; once approved, the token (returned once; the device code "
        "is then spent: `invalid_grant`). The token never expires by itself; the owner revokes it on the Devices "
        "page. It uploads readings and telegrams for the owner's meters and nothing else (403)."
    ),
    request={
        "application/x-www-form-urlencoded": {
            "type": "object",
            "required": ["grant_type", "device_code"],
            "properties": {"grant_type": {"type": "string"}, "device_code": {"type": "string"}},
        },
        "application/json": {
            "type": "object",
            "required": ["grant_type", "device_code"],
            "properties": {"grant_type": {"type": "string"}, "device_code": {"type": "string"}},
        },
    },
    responses={
        200: OpenApiResponse(
            {
                "type": "object",
                "required": ["access_token", "token_type"],
                "properties": {
                    "access_token": {"type": "string"},
                    "token_type": {"type": "string", "enum": ["Bearer"]},
                },
            },
            description="The device token",
            examples=[OpenApiExample("Token", value={"access_token": "p1d_3q2+7w...", "token_type": "Bearer"})],
        ),
        400: OpenApiResponse(
            _OAUTH_ERROR,
            description="Not (yet) a token: the RFC 8628 error",
            examples=[
                OpenApiExample(
                    "Pending",
                    value={"error": "authorization_pending", "error_description": "waiting for the owner"},
                )
            ],
        ),
        415: _BAD_MEDIA,
        429: _THROTTLED,
    },
)

device_list = extend_schema(
    tags=[TAG_DEVICES],
    summary="Your paired devices",
    description="Revoked devices are listed with `revoked_at`. A user's JWT or session; a device token gets 403.",
    responses={200: DeviceSerializer(many=True), 401: _UNAUTHORISED, 403: _DEVICE_FORBIDDEN},
)

device_detail = extend_schema(
    tags=[TAG_DEVICES],
    summary="Revoke one of your devices",
    description="From then on its token gets 401 `device revoked`; its readings stay. 404 if not your device.",
    responses={204: None, 401: _UNAUTHORISED, 403: _DEVICE_FORBIDDEN, 404: _NOT_FOUND},
)

_LIVE_SNAPSHOT = {
    "serial": "1SAG1100000292",
    "measured_at": "2026-12-01T18:07:30+01:00",
    "power_import_kw": "3.412",
    "power_export_kw": "0.000",
    "l1_import_kw": "1.210",
    "l1_voltage_v": "231.4",
    "l1_current_a": "5.30",
    "tariff": 1,
    "avg_demand_kw": "2.904",
    "month_peak_kw": "4.120",
    "month_peak_at": "2026-12-01T08:15:00+01:00",
}

post_live = extend_schema(
    tags=[TAG_INGEST],
    summary="Post the meter's live snapshot (kept in the cache, never stored as a reading)",
    description=(
        "One JSON object, sent every few seconds by the Pi (p1edge `live.interval`): the fields of "
        "`p1edge.wire.LIVE_FIELDS`, checked by the readings' rules. The latest snapshot per meter is kept; an older "
        "one is acknowledged and dropped. Owner's account, a device of the owner, or staff. 404 when the serial is "
        "no meter of yours yet (its first quarter-hour upload registers it); 429 for a second snapshot of one meter "
        "within LIVE_MIN_INTERVAL_SECONDS. A snapshot whose projection heads for a new month peak triggers the "
        "owner's peak alert (at most one per quarter-hour)."
    ),
    request={"application/json": {"type": "object"}},
    examples=[OpenApiExample("Snapshot", value=_LIVE_SNAPSHOT, request_only=True)],
    responses={
        202: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="Kept",
            examples=[
                OpenApiExample("Kept", value={"accepted": True, "received_at": "2026-12-01T17:07:31.204118+00:00"})
            ],
        ),
        400: _ITEM_ERRORS,
        401: _UNAUTHORISED,
        404: _detail("No such meter among yours yet", "No meter 1SAG1100000292 among yours yet; ..."),
        429: _THROTTLED,
    },
)

meter_live = extend_schema(
    tags=[TAG_READ],
    summary="What one of your meters draws now, and the peak guard",
    description=(
        "The latest snapshot with its age (`age_seconds`, `stale` after LIVE_STALE_SECONDS), when the meter was last "
        "heard of (`last_seen_at`: the later of the snapshot and the latest quarter-hour reading), and the peak guard "
        "of the running quarter-hour: its average so far (`so_far_kw`: the meter's 1-0:1.4.0, else from the "
        "registers), the projected average if the current power holds (`projected_kw`), this month's peak "
        "(stored quarters or the meter's 1-0:1.6.0, whichever is higher), the threshold (at least the 2.5 kW "
        "minimum), the headroom, the import power that still keeps the quarter under it (`allowed_power_kw`) and "
        "what a new peak would cost: each kW above the threshold raises the 12-month mean by 1/12 kW for twelve "
        "months, about the yearly capacity price / 12 (`cost_per_kw_eur`). Sends an ETag: poll with "
        "If-None-Match and get 304 while nothing changed (age and stale are left out of the tag; add the seconds "
        "since `generated_at`). 404 for meters that are not yours."
    ),
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT, description="The live status"),
        304: OpenApiResponse(description="Not modified since the ETag sent in If-None-Match"),
        401: _UNAUTHORISED,
        403: _DEVICE_FORBIDDEN,
        404: _NOT_FOUND,
    },
)
