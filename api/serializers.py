"""Serializers for the owner-scoped reads, plus the request/response shapes documented in the OpenAPI schema."""

from __future__ import annotations

from p1edge import wire
from rest_framework import serializers

from api.prototype import PROTOTYPE_TO_FIELD
from meters.models import READING_FIELDS, Device, Meter, Reading


class MeterSerializer(serializers.ModelSerializer):
    reading_count = serializers.IntegerField(read_only=True)
    first_reading_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_reading_at = serializers.DateTimeField(read_only=True, allow_null=True)
    role = serializers.CharField(read_only=True, help_text="owner, manager or viewer (a meter shared with you).")

    class Meta:
        model = Meter
        fields = ("code", "serial", "name", "reading_count", "first_reading_at", "last_reading_at", "role")
        read_only_fields = fields


class ReadingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Reading
        fields = ("timestamp", "measured_at", *READING_FIELDS)
        read_only_fields = fields


class DeviceSerializer(serializers.ModelSerializer):
    meters: serializers.SlugRelatedField[Meter] = serializers.SlugRelatedField(
        slug_field="serial", many=True, read_only=True, help_text="Serials of the meters it uploaded for."
    )

    class Meta:
        model = Device
        fields = ("id", "name", "created_at", "created_from", "last_seen_at", "last_address", "revoked_at", "meters")
        read_only_fields = fields


# --- shapes used only by the schema (views build these bodies from plain dicts) ------------------


class IngestErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item (or telegram) in the request, from 0.")
    field = serializers.CharField(help_text="Field name as sent, or non_field_errors.")
    message = serializers.CharField()


class ErrorListSerializer(serializers.Serializer):
    # DRF's metaclass moves declared fields into _declared_fields: this does not shadow the errors property.
    errors = IngestErrorSerializer(many=True)  # type: ignore[assignment]


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class IngestResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(min_value=0)
    duplicates = serializers.IntegerField(min_value=0)
    registered_serials = serializers.ListField(
        child=serializers.CharField(), help_text="Unknown serials that were registered to you by this request."
    )


class TelegramResultSerializer(IngestResultSerializer):
    telegrams = serializers.IntegerField(min_value=0, help_text="Telegrams found in the body.")
    readings = serializers.IntegerField(min_value=0, help_text="Quarter-hour readings taken from them.")


class SetDataResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The stored reading's id (see getData).")
    created = serializers.BooleanField()
    duplicate = serializers.BooleanField()


_NUMBER_OR_STRING: dict = {"oneOf": [{"type": "number"}, {"type": "string"}]}


def _reading_field_schema(field: str) -> dict:
    if field in wire.TIME_FIELDS:
        return {"type": "string", "format": "date-time", "nullable": True}
    if field in wire.INT_FIELDS:
        return {"type": "integer", "nullable": True}
    if field in wire.REQUIRED_FIELDS:
        return dict(_NUMBER_OR_STRING)
    return {**_NUMBER_OR_STRING, "nullable": True}


def _prototype_request_field_schema(key: str) -> dict:
    if key == "tijdstip":
        return {"type": "string", "description": "Europe/Brussels: YYYYMMDDhhmmss, YYYY-MM-DD HH:MM:SS or ISO 8601"}
    if key == "serialmeter":
        return {"type": "string"}
    return {**_NUMBER_OR_STRING, "nullable": True}


def _prototype_response_field_schema(key: str) -> dict:
    if key == "tijdstip":
        return {"type": "string", "format": "date-time"}
    if key == "serialmeter":
        return {"type": "string"}
    if key in ("switch", "currentrate"):
        return {"type": "integer", "nullable": True}
    return {"type": "number", "nullable": True}


# Raw OpenAPI schemas: values may be JSON numbers or numeric strings, which a serializer field cannot express.
READING_ITEM_SCHEMA: dict = {
    "type": "object",
    "required": ["serial", "timestamp", *wire.REQUIRED_FIELDS],
    "properties": {
        "serial": {"type": "string", "description": "Decoded equipment id (0-0:96.1.1)."},
        "timestamp": {"type": "string", "format": "date-time", "description": "ISO 8601; snapped to its slot."},
        "measured_at": {"type": "string", "format": "date-time", "description": "Meter clock of the telegram."},
        **{field: _reading_field_schema(field) for field in READING_FIELDS},
    },
}
READINGS_REQUEST_SCHEMA: dict = {
    "type": "object",
    "required": ["readings"],
    "properties": {"readings": {"type": "array", "items": READING_ITEM_SCHEMA}},
}
PROTOTYPE_REQUEST_SCHEMA: dict = {
    "type": "object",
    "required": ["tijdstip", "serialmeter"],
    "additionalProperties": True,
    "description": "The prototype's reading; unknown keys such as 'Gas consumption' are ignored.",
    "properties": {key: _prototype_request_field_schema(key) for key in PROTOTYPE_TO_FIELD},
}
PROTOTYPE_READING_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        **{key: _prototype_response_field_schema(key) for key in PROTOTYPE_TO_FIELD},
    },
}
