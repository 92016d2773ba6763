"""The account's saved language wins over the cookie and the browser (the order of issue 15, docs/glossary.md)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation

from users.models import Profile


class ProfileLanguageMiddleware:
    """After LocaleMiddleware and AuthenticationMiddleware: a signed-in user's ``Profile.language`` is activated for
    the request (LocaleMiddleware then sets Content-Language from it on the way out)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            language = Profile.objects.filter(user=user).values_list("language", flat=True).first()
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = language  # what LocaleMiddleware sets
        return self.get_response(request)
