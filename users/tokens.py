"""API tokens (SimpleJWT) tied to the account: a version claim revokes them, and login shares the site's lockout.

Every refresh and access token carries the account's ``Profile.token_version``. It goes up when the password
is changed or reset or the account is deactivated (``users.signals``), so every token issued before stops
working at once: access tokens at their next request (``VersionedJWTAuthentication``), refresh tokens at their
next use (``TokenRefreshSerializer``). A deleted account's tokens find no user: 401 as well, never a 500.
Tokens without the claim (issued before it existed, or by ``RefreshToken.for_user`` in scripts) count as
version 0, which is what an account has until its first password change.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AuthUser, RefreshToken, Token

from api.exceptions import AccountLocked
from users.lockout import lockout_for
from users.models import Profile

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # AUTH_USER_MODEL
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

logger = logging.getLogger(__name__)

TOKEN_VERSION_CLAIM = "token_version"  # noqa: S105 (a claim name, not a secret)
REVOKED = gettext_lazy(
    "This token was revoked: the account's password changed, or it was deactivated or deleted. Log in again."
)
# The longest text that can name an account is an e-mail address (254, RFC 5321); usernames have at most 150.
LOGIN_MAX_LENGTH = 254


def token_version(user_id: int | str) -> int:
    """The version that ``user_id``'s tokens must carry (0 until the first revocation)."""
    return Profile.objects.filter(user_id=user_id).values_list("token_version", flat=True).first() or 0


def revoke_tokens(user: User) -> None:
    """Raise ``user``'s token version: every access and refresh token issued so far is refused from now on."""
    profile, _created = Profile.objects.get_or_create(user=user)
    # An UPDATE with F(): two revocations at once both count.
    Profile.objects.filter(pk=profile.pk).update(token_version=F("token_version") + 1)
    logger.info("tokens: revoked every API token of user %s", user.pk)


def check_token_version(token: Token, user_id: int | str) -> None:
    """Raises ``InvalidToken`` (401) when ``token`` predates the account's last revocation."""
    if token.get(TOKEN_VERSION_CLAIM, 0) != token_version(user_id):
        raise InvalidToken(str(REVOKED))


class VersionedRefreshToken(RefreshToken):
    """A refresh token with the account's token version; its access tokens copy the claim."""

    @classmethod
    def for_user(cls, user: AuthUser) -> VersionedRefreshToken:
        token = super().for_user(user)
        token[TOKEN_VERSION_CLAIM] = token_version(user.pk)
        # SimpleJWT's BlacklistMixin["RefreshToken"] binds for_user's type to RefreshToken; it returns a cls().
        return token  # type: ignore[return-value]


class VersionedJWTAuthentication(JWTAuthentication):
    """SimpleJWT's authentication (user exists and is active) plus the token version check."""

    # SimpleJWT returns its AuthUser TypeVar, which no argument binds: no override can match it.
    def get_user(self, validated_token: Token) -> AbstractBaseUser:  # type: ignore[override]
        user = super().get_user(validated_token)
        check_token_version(validated_token, user.pk)
        return user


class VersionedJWTScheme(SimpleJWTScheme):
    """Documents ``VersionedJWTAuthentication`` in the OpenAPI schema as SimpleJWT's bearer scheme (jwtAuth)."""

    target_class = "users.tokens.VersionedJWTAuthentication"  # a dotted path, as SimpleJWTScheme's own


class TokenObtainPairSerializer(jwt_serializers.TokenObtainPairSerializer):
    """Username (or e-mail) and password for a token pair, under the login page's lockout (django-axes)."""

    token_class = VersionedRefreshToken

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Nothing longer names an account, and django-axes would store the text in a varchar(255).
        self.fields[self.username_field] = serializers.CharField(write_only=True, max_length=LOGIN_MAX_LENGTH)

    def validate(self, attrs: dict) -> dict:
        """Raises ``AccountLocked`` (429, with when it unlocks) where SimpleJWT would answer a locked account
        with the same 401 as a wrong password, and ``AuthenticationFailed`` for wrong credentials."""
        try:
            return super().validate(attrs)
        except AuthenticationFailed:
            # authenticate() ran on this DRF request, so django-axes marked it (AxesStandaloneBackend).
            request = self.context.get("request")
            if request is None or not getattr(request, "axes_locked_out", False):
                raise
            credentials = getattr(request, "axes_credentials", None) or {"username": attrs[self.username_field]}
            lockout = lockout_for(request, credentials)
            raise AccountLocked(lockout.message(), wait=lockout.seconds_left()) from None


class TokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    """A refresh token for a new access token and (rotation) a new refresh token; the old one is blacklisted."""

    def validate(self, attrs: dict) -> dict:
        """Raises ``TokenError`` (expired, forged, blacklisted: 401 from the view) or ``InvalidToken`` (401) for a
        revoked token or one whose account is gone or inactive."""
        refresh = self.token_class(attrs["refresh"])
        user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
        user = get_user_model()._default_manager.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
        if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
            raise InvalidToken(str(REVOKED))
        check_token_version(refresh, user.pk)

        data = {"access": str(refresh.access_token)}
        if api_settings.ROTATE_REFRESH_TOKENS:
            if api_settings.BLACKLIST_AFTER_ROTATION:
                # blacklist() returns get_or_create()'s pair, whatever SimpleJWT's annotation says.
                _blacklisted, created = cast("tuple[BlacklistedToken, bool]", refresh.blacklist())
                # Two refreshes racing with one token both passed the blacklist check; only one blacklists it.
                if not created:
                    raise InvalidToken(_("Token is blacklisted"))
            refresh.set_jti()
            refresh.set_exp()
            refresh.set_iat()
            refresh.outstand()
            data["refresh"] = str(refresh)
        return data
