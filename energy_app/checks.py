"""System checks that flag settings which are fine for a laptop but unsafe in production."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security, deploy=False)
def check_production_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[Warning]:
    if settings.DEBUG:
        return []
    from energy_app.settings import require_secret_key

    warnings: list[Warning] = []
    # The settings refuse such a key at start; this catches one set afterwards (tests, override_settings).
    try:
        require_secret_key(settings.SECRET_KEY, debug=False)
    except ImproperlyConfigured as exc:
        warnings.append(
            Warning(
                f"DEBUG is off but the SECRET_KEY is weak: {exc}",
                hint="Set the SECRET_KEY environment variable to a long random value.",
                id="energy_app.W001",
            )
        )
    if not settings.ALLOWED_HOSTS:
        warnings.append(
            Warning(
                "DEBUG is off but ALLOWED_HOSTS is empty: every request will be refused.",
                hint="Set ALLOWED_HOSTS to a comma-separated list of host names.",
                id="energy_app.W002",
            )
        )
    return warnings
