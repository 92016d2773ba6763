"""The colour scheme of the pages: light, dark, or automatic (the device's prefers-color-scheme).

A signed-in user's choice lives in ``users.models.Profile.theme`` (every device); a cookie keeps it for pages
without an account (and for this browser after logging out). base.html writes it as ``<html data-theme>``, which the
stylesheet's ``dark`` variant reads (theme/static_src/src/styles.css).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

Scheme = Literal["auto", "light", "dark"]
SCHEMES: tuple[Scheme, ...] = ("auto", "light", "dark")
COOKIE_NAME = "p1_theme"
COOKIE_AGE = 365 * 24 * 3600  # a preference, like the language cookie: kept for a year


def scheme_or_auto(value: object) -> Scheme:
    return cast(Scheme, value) if value in SCHEMES else "auto"


def color_scheme_for(request: HttpRequest | None) -> Scheme:
    """The scheme to render ``request`` in: a signed-in user's light or dark (``Profile.theme``), else this
    browser's cookie, else "auto" (the device decides, as on Django's 500 page, which renders without a request).

    An account left on "auto" (the default) keeps the cookie's choice: what someone picked on this browser before
    logging in stays. Both switchers set the cookie as well as the profile, so the two never disagree after a choice.
    """
    if request is None:
        return "auto"
    cached = getattr(request, "_p1_color_scheme", None)
    if cached is not None:
        return cast(Scheme, cached)
    scheme = scheme_or_auto(request.COOKIES.get(COOKIE_NAME))
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        from users.models import Profile  # theme is imported by the apps it serves; import it only when asked

        saved = Profile.objects.filter(user=user).values_list("theme", flat=True).first()
        if saved in ("light", "dark"):
            scheme = scheme_or_auto(saved)
    request._p1_color_scheme = scheme  # type: ignore[attr-defined]  # one query per request, however many asks
    return scheme


def remember_scheme(response: HttpResponse, scheme: Scheme) -> None:
    """Keep ``scheme`` in this browser's cookie (read on pages without an account)."""
    response.set_cookie(
        COOKIE_NAME,
        scheme,
        max_age=COOKIE_AGE,
        path="/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,  # only the server reads it
        samesite="Lax",
    )
