"""Account pages: register, login/logout, profile (account, language, prices, alerts), help, your data (download,
account deletion); Django's password views."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Literal, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import i18n as i18n_views
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from meters.access import owned_meters
from meters.alerts import recent_alerts
from meters.claims import client_network, retry_time_text
from theme.preferences import SCHEMES, remember_scheme, scheme_or_auto
from users.account import delete_account
from users.export import start_export, streaming_response
from users.forms import (
    AccountForm,
    AlertsForm,
    DeleteAccountForm,
    LanguageForm,
    LoginForm,
    PricesForm,
    RegisterForm,
    ThemeForm,
)
from users.lockout import client_ip
from users.models import Profile, forget_alert_settings, profile_for, renew_webhook_secret

logger = logging.getLogger(__name__)

AFTER_REGISTER_URL = "meters:list"  # a URL name: redirect() reverses it
# Registration logs in without a password check by a backend, so name the one that owns the account.
MODEL_BACKEND = "users.backends.UsernameOrEmailBackend"


def _safe_next(request: HttpRequest) -> str:
    """The ?next= target when it stays on this site, else the default landing page."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


REGISTER_WINDOW = timedelta(hours=1)


def take_registration_slot(network: str, now: datetime) -> datetime | None:
    """Take one of the ``settings.REGISTER_MAX_PER_ADDRESS_PER_HOUR`` account slots of ``network`` (see
    ``meters.claims.client_network``) for an hour: None when one was free, else when the oldest one frees.

    Each slot is one cache key written with ``cache.add``, which exactly one of several parallel requests wins
    (Redis SET NX, the database cache's unique key, the memory cache's lock), so parallel registrations cannot
    pass the limit; the key expires an hour after it was taken, so the window slides. The cache is shared by all
    workers. A request without a usable address counts under one shared "unknown" network: fail closed.
    """
    prefix = f"register:{network or 'unknown'}"
    keys = [f"{prefix}:{slot}" for slot in range(settings.REGISTER_MAX_PER_ADDRESS_PER_HOUR)]
    for key in keys:
        if cache.add(key, now.timestamp(), timeout=REGISTER_WINDOW.total_seconds()):
            return None
    oldest = min(cache.get_many(keys).values(), default=now.timestamp())
    return datetime.fromtimestamp(oldest, tz=UTC) + REGISTER_WINDOW


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Only accounts actually created take a slot (a form with errors creates nothing); scripted accounts
        # were how one meter was guessed at 2,343 times (issue 12).
        network = client_network(client_ip(request))
        retry_at = take_registration_slot(network, timezone.now())
        if retry_at is not None:
            logger.warning("register: refused for network %s, registration limit reached", network or "unknown")
            limit = settings.REGISTER_MAX_PER_ADDRESS_PER_HOUR
            form.add_error(
                None,
                _(
                    "Too many accounts were created from your network in the past hour (%(limit)d). "
                    "Try again after %(time)s."
                )
                % {"limit": limit, "time": retry_time_text(retry_at)},
            )
            return render(request, "users/register.html", {"form": form}, status=429)
        user = form.save()
        profile_for(user)
        auth_login(request, user, backend=MODEL_BACKEND)
        logger.info("New account registered: %s", user.username)
        messages.success(
            request,
            _("Welcome, %(name)s! Add your meter to start seeing your consumption.") % {"name": user.username},
        )
        # An invitation link (meters.sharing) sends newcomers here with ?next=: back to it once registered.
        wanted = request.POST.get("next") or request.GET.get("next")
        return redirect(_safe_next(request) if wanted else AFTER_REGISTER_URL)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    return render(request, "users/register.html", {"form": form, "next": next_url})


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url)
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        auth_login(request, form.get_user())
        return redirect(next_url)
    context = {
        "form": form,
        "next": request.POST.get("next") or request.GET.get("next") or "",
        "social_providers": settings.SOCIAL_PROVIDERS,
    }
    return render(request, "users/login.html", context)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth_logout(request)
    messages.info(request, _("You are logged out."))
    return redirect(settings.LOGOUT_REDIRECT_URL)


@login_required
@never_cache  # the page shows the webhook's signing secret
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    assert request.user.is_authenticated  # login_required; tells mypy that request.user is no AnonymousUser
    user_profile = profile_for(request.user)
    # Taken before binding: a ModelForm writes submitted values onto its instance even when they are invalid.
    prices_in_use = user_profile.prices()
    account = get_user_model()._default_manager.get(pk=request.user.pk)  # not request.user: the header shows it
    section = request.POST.get("section") if request.method == "POST" else None
    account_form = AccountForm(request.POST if section == "account" else None, instance=account, prefix="account")
    prices_form = PricesForm(request.POST if section == "prices" else None, instance=user_profile, prefix="prices")
    language_form = LanguageForm(
        request.POST if section == "language" else None, instance=user_profile, prefix="language"
    )
    alerts_form = AlertsForm(request.POST if section == "alerts" else None, instance=user_profile, prefix="alerts")
    theme_form = ThemeForm(request.POST if section == "theme" else None, instance=user_profile, prefix="theme")
    if section == "account" and account_form.is_valid():
        account_form.save()
        messages.success(request, _("Your profile is updated."))
        return redirect("users:profile")
    if section == "prices" and prices_form.is_valid():
        prices_form.save()
        forget_alert_settings(request.user.pk)  # the peak alert's euro figure uses the capacity price
        messages.success(request, _("Your prices are saved."))
        return redirect("users:profile")
    if section == "language" and language_form.is_valid():
        return _save_language(request, language_form)
    if section == "theme" and theme_form.is_valid():
        theme_form.save(commit=False).save(update_fields=["theme"])
        messages.success(request, _("Your colour scheme is saved."))
        response = redirect("users:profile")
        remember_scheme(response, scheme_or_auto(theme_form.cleaned_data["theme"]))
        return response
    if section == "alerts" and alerts_form.is_valid():
        alerts_form.save(commit=False).save(update_fields=list(AlertsForm.Meta.fields))
        forget_alert_settings(request.user.pk)  # the next snapshot already goes by the new settings
        messages.success(request, _("Your alert settings are saved."))
        return redirect("users:profile")
    if section == "webhook-secret":
        renew_webhook_secret(user_profile)
        messages.success(request, _("A new signing secret is made. Give it to your webhook receiver."))
        return redirect("users:profile")
    context = {
        "account_form": account_form,
        "language_form": language_form,
        "prices_form": prices_form,
        "prices": prices_in_use,
        "alerts_form": alerts_form,
        "theme_form": theme_form,
        "webhook_secret": user_profile.alert_webhook_secret,
        "recent_alerts": recent_alerts(request.user),
    }
    return render(request, "users/profile.html", context)


def _save_language(request: HttpRequest, form: LanguageForm) -> HttpResponse:
    """Save the account's language and answer in it from the next page on.

    The cookie follows the choice (this browser keeps the language after logging out); "Follow my browser" deletes
    it, or the cookie would go on deciding instead of Accept-Language.
    """
    samesite = cast("Literal['Lax', 'Strict', 'None'] | None", settings.LANGUAGE_COOKIE_SAMESITE)
    profile = form.save(commit=False)
    profile.save(update_fields=["language"])  # the instance's other fields are as loaded: leave them alone
    response = redirect("users:profile")
    if profile.language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            profile.language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=samesite,
        )
        language = profile.language
    else:
        response.delete_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            samesite=samesite,
        )
        # The cookie goes with this response, so Accept-Language decides from now on.
        language = _accept_language(request)
    # The message is shown on the next page, which is in the new language.
    with translation.override(language):
        messages.success(request, _("Your language is saved."))
    return response


def _accept_language(request: HttpRequest) -> str:
    """The language that Accept-Language alone picks (LocaleMiddleware's rule without the cookie)."""
    header_only = HttpRequest()
    header_only.META = {"HTTP_ACCEPT_LANGUAGE": request.META.get("HTTP_ACCEPT_LANGUAGE", "")}
    return translation.get_language_from_request(header_only)


def privacy(request: HttpRequest) -> HttpResponse:
    """What is stored, why, for how long, who sees it and where it is hosted (docs/your-data.md)."""
    context = {
        "retention_days": settings.RETENTION_RAW_DAYS,
        "hosting": settings.PRIVACY_HOSTING,
        "contact": settings.PRIVACY_CONTACT,
    }
    return render(request, "users/privacy.html", context)


def help_page(request: HttpRequest) -> HttpResponse:
    return render(request, "users/help.html", {"capacity_minimum_kw": settings.CAPACITY_MINIMUM_KW})


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The header's switchers: Django's ``set_language`` (the django_language cookie, then back to ``next``), and for
    a signed-in user the choice is saved in the profile too, which outranks the cookie on every device.

    The colour-scheme switcher posts here as well (a ``theme`` field instead of ``language``): the same round trip,
    the p1_theme cookie and ``Profile.theme``."""
    if "theme" in request.POST:
        return _set_theme(request)
    response = i18n_views.set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        Profile.objects.update_or_create(user=request.user, defaults={"language": language})
    return response


def _set_theme(request: HttpRequest) -> HttpResponse:
    """The header's colour-scheme switcher: the cookie for this browser, the profile for an account; back to ``next``
    (a value that is no scheme changes nothing)."""
    next_url = _safe_next(request)
    response = redirect(next_url)
    scheme = request.POST.get("theme", "")
    if scheme not in SCHEMES:
        return response
    remember_scheme(response, scheme_or_auto(scheme))
    if request.user.is_authenticated:
        Profile.objects.update_or_create(user=request.user, defaults={"theme": scheme})
    return response


# --- your data: take it with you, delete it (docs/your-data.md) -----------------------------------------------------


@login_required
@never_cache
@require_GET
def export_data(request: HttpRequest) -> StreamingHttpResponse:
    """Download all my data: the ZIP streams at once, whatever its size (users.export)."""
    return streaming_response(start_export(request.user))


@sensitive_post_parameters("password")
@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def delete_account_view(request: HttpRequest) -> HttpResponse:
    """Asks for the password and, per meter, delete its data or release it; then deletes the account, logs out and
    sends to the login page. A wrong password is an error beside the field and deletes nothing."""
    meters = owned_meters(request.user).order_by("name", "serial")
    form = DeleteAccountForm(request.user, meters, request.POST or None)
    if request.method == "POST" and form.is_valid():
        deleted = delete_account(request.user, form.meter_choices())
        auth_logout(request)  # after the deletion: a failed one leaves the user logged in, nothing lost
        messages.success(request, _("Your account is deleted."))
        if deleted.meters_released:
            messages.info(
                request,
                ngettext(
                    "%(count)d meter was removed from the account and keeps its data, without an owner.",
                    "%(count)d meters were removed from the account and keep their data, without an owner.",
                    deleted.meters_released,
                )
                % {"count": deleted.meters_released},
            )
        return redirect("users:login")
    return render(request, "users/delete_account.html", {"form": form})
