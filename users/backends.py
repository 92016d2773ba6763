"""Log in with either the username or the e-mail address."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import Q
from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # AUTH_USER_MODEL


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if not username or password is None:
            return None
        # As Django's login form does; the token endpoint passes the typed text as it came.
        username = unicodedata.normalize("NFKC", username)
        user_model = get_user_model()
        # Usernames win over e-mails so an account can't be shadowed by someone using its name as e-mail.
        candidates = list(
            user_model._default_manager.filter(Q(username__iexact=username) | Q(email__iexact=username)).order_by("id")
        )
        exact = [u for u in candidates if u.username.lower() == username.lower()]
        by_email = [u for u in candidates if u.email and u.email.lower() == username.lower()]
        if exact:
            user = exact[0]
        elif len(by_email) == 1:
            user = by_email[0]
        else:
            # Unknown, or an e-mail shared by several accounts: run the hasher anyway to keep timing flat.
            user_model().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
