"""``/api/v1/me/export``: the account's data as one ZIP, the same file as the profile's "Download all my data"."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from api.serializers import DetailSerializer
from users.export import start_export, streaming_response


class _FirstRenderer(BaseContentNegotiation):
    """The ZIP is not rendered by DRF, and errors are always JSON: a script sending ``Accept: application/zip``
    would otherwise get 406 from the JSON-only renderers."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0]

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        renderer: BaseRenderer = renderers[0]
        return renderer, renderer.media_type


class ExportView(APIView):
    content_negotiation_class = _FirstRenderer

    @extend_schema(
        tags=["account"],
        operation_id="me_export",
        summary="All your data as one ZIP file",
        description=(
            "The file of the profile's “Download all my data”: README.txt, account.json, meters.json (with "
            "contracts and shares), alerts.json, devices.json, shared_with_me.json and readings/<serial>.csv per "
            "meter you own (the columns of the dashboard's CSV export, the whole history). Streamed as it is "
            "written, so it starts at once whatever the size. A user's JWT or session; a device token gets 403. "
            "Formats: docs/your-data.md."
        ),
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The ZIP file."),
            401: OpenApiResponse(DetailSerializer, description="Not logged in."),
            403: OpenApiResponse(DetailSerializer, description="A device token."),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        return streaming_response(start_export(request.user))
