"""The account key django-axes counts failures under (AXES_USERNAME_CALLABLE).

Login accepts a username in any case or the account's e-mail, so counting the typed text would give an
attacker five tries per spelling ("alice", "Alice", "alice@example.org", ...). Every spelling that reaches
the same account is folded into that account's key.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import HttpRequest


def lockout_username(request: HttpRequest | None, credentials: dict | None) -> str | None:
    field = settings.AXES_USERNAME_FORM_FIELD
    typed = (credentials or {}).get(field)
    if typed is None and request is not None:
        typed = getattr(request, "POST", {}).get(field)
    if not typed:
        return typed
    typed = typed.strip()
    user_model = get_user_model()
    # Same precedence as users.backends.UsernameOrEmailBackend: a username match wins over e-mails.
    matches = list(
        user_model._default_manager.filter(Q(username__iexact=typed) | Q(email__iexact=typed))
        .order_by("id")
        .values_list("username", "email")[:5]
    )
    for username, _email in matches:
        if username.lower() == typed.lower():
            return username.lower()
    by_email = [username for username, email in matches if email and email.lower() == typed.lower()]
    if len(by_email) == 1:
        return by_email[0].lower()
    return typed.lower()


def client_ip(request: HttpRequest) -> str | None:
    """Client address for django-axes, resolved exactly like DRF's throttles (settings.TRUSTED_PROXY_COUNT)."""
    from rest_framework.throttling import BaseThrottle

    return BaseThrottle().get_ident(request)
