"""Login lockout (django-axes): the account key, the client address, and when a lock lifts.

``lockout_username`` (AXES_USERNAME_CALLABLE): login accepts a username in any case or the account's e-mail, so
counting the typed text would give an attacker five tries per spelling ("alice", "Alice", "alice@example.org",
...). Every spelling that reaches the same account is folded into that account's key.

``client_ip`` (AXES_CLIENT_IP_CALLABLE, and the API's token throttle): the one rule for "which client is this".

``lockout_response`` (AXES_LOCKOUT_CALLABLE) and ``lockout_for``: the login page and the token endpoint tell a
locked account when it unlocks.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from rest_framework.settings import api_settings

logger = logging.getLogger(__name__)

# django-axes stores the key in a varchar(255); nothing longer is a username or an e-mail anyway.
_KEY_MAX_LENGTH = 255
# "203.0.113.7:52114" and "[2001:db8::7]:52114": Azure App Service's front ends write the client's port too.
_IPV4_WITH_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$")
_BRACKETED_IPV6 = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$")


def lockout_username(request: HttpRequest | None, credentials: dict | None) -> str | None:
    field = settings.AXES_USERNAME_FORM_FIELD
    typed = (credentials or {}).get(field)
    if typed is None and request is not None:
        typed = getattr(request, "POST", {}).get(field)
    if not typed:
        return typed
    # NFKC as Django's login form does: a full-width "alice" logs in as alice, so it counts as alice.
    typed = unicodedata.normalize("NFKC", typed).strip()[:_KEY_MAX_LENGTH]
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


def _address(text: str) -> str | None:
    """``text`` as a normalised IP address (a port dropped), or None when it is not one."""
    text = text.strip()
    match = _IPV4_WITH_PORT.match(text) or _BRACKETED_IPV6.match(text)
    if match:
        text = match.group(1)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, for django-axes (lockout) and the API's token throttle alike.

    Without a proxy count (TRUSTED_PROXY_COUNT=0, the default) only the socket address counts: anyone can write
    X-Forwarded-For, so trusting it gave every guess a fresh "client" and let anyone lock out a victim's
    address. With N trusted proxies, each appends the address it saw, so the client is the N-th hop from the
    right; hops further left were written by the client itself. A hop that is no IP address is ignored.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = api_settings.NUM_PROXIES or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    hops = forwarded.split(",")
    # Fewer hops than proxies: the request skipped an outer proxy, and the leftmost hop is the client itself.
    hop = hops[-min(proxies, len(hops))]
    address = _address(hop)
    if address is None:
        logger.warning("lockout: ignoring X-Forwarded-For hop %r that is no IP address", hop[:64])
        return remote
    return address


@dataclass(frozen=True)
class Lockout:
    """A lock django-axes applied: after ``failure_limit`` failures, until ``unlocks_at`` (None: no cool-off)."""

    failure_limit: int
    unlocks_at: datetime | None

    def seconds_left(self, now: datetime | None = None) -> int | None:
        if self.unlocks_at is None:
            return None
        return max(0, math.ceil((self.unlocks_at - (now or timezone.now())).total_seconds()))

    def minutes_left(self, now: datetime | None = None) -> int | None:
        seconds = self.seconds_left(now)
        return None if seconds is None else max(1, math.ceil(seconds / 60))

    def message(self) -> str:
        """What the API says (the login page renders users/locked_out.html with the same facts)."""
        text = ngettext(
            "This account is locked after %(count)d failed login from your address.",
            "This account is locked after %(count)d failed logins from your address.",
            self.failure_limit,
        ) % {"count": self.failure_limit}
        if self.unlocks_at is None:
            advice = gettext("Ask the site's operator to unlock it, or reset your password on the website.")
            return f"{text} {advice}"
        minutes = self.minutes_left() or 1
        until = timezone.localtime(self.unlocks_at).isoformat(timespec="seconds")
        when = ngettext(
            "It unlocks at %(until)s (in %(minutes)d minute); a right password is refused until then.",
            "It unlocks at %(until)s (in %(minutes)d minutes); a right password is refused until then.",
            minutes,
        ) % {"until": until, "minutes": minutes}
        return f"{text} {when}"


def lockout_for(request: HttpRequest, credentials: dict | None) -> Lockout:
    """The lock on ``request``'s account and address, as django-axes counted it during authenticate().

    The lock lasts AXES_COOLOFF_TIME from the last counted failure (failures while locked are not counted, see
    AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), which the database handler has; other handlers keep no such
    record, so there it is counted from now.
    """
    limit = get_failure_limit(request, credentials)
    cool_off: timedelta | None = get_cool_off(request)
    if cool_off is None:
        return Lockout(failure_limit=limit, unlocks_at=None)
    last_failure = None
    handler = AxesProxyHandler.get_implementation()
    if hasattr(handler, "get_user_attempts"):
        for attempts in handler.get_user_attempts(request, credentials):
            totals = attempts.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
            if (totals["failures"] or 0) >= limit and totals["last"] is not None:
                last_failure = max(last_failure or totals["last"], totals["last"])
    return Lockout(failure_limit=limit, unlocks_at=(last_failure or timezone.now()) + cool_off)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The login page's answer to a locked account (AXES_LOCKOUT_CALLABLE): 429 with when the lock lifts."""
    lockout = lockout_for(request, credentials)
    context = {
        "failure_limit": lockout.failure_limit,
        "unlocks_at": lockout.unlocks_at,
        "minutes_left": lockout.minutes_left(),
    }
    # django-axes sets AXES_HTTP_RESPONSE_CODE (default 429) on the settings at import; the plugin sees only
    # energy_app.settings.
    status = settings.AXES_HTTP_RESPONSE_CODE  # type: ignore[misc]
    response = render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=status)
    seconds = lockout.seconds_left()
    if seconds is not None:
        response["Retry-After"] = str(seconds)
    return response
