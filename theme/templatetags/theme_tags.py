"""``{% color_scheme %}``: the page's colour scheme for ``<html data-theme>`` (theme.preferences)."""

from __future__ import annotations

from typing import Any

from django import template

from theme.preferences import color_scheme_for

register = template.Library()


@register.simple_tag(takes_context=True)
def color_scheme(context: dict[str, Any]) -> str:
    return color_scheme_for(context.get("request"))
