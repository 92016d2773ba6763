"""Revoke an account's API tokens when its password is set or reset, or it is deactivated (users.tokens).

A ``pre_save`` notes what changed and ``post_save`` revokes once the row is written. Django marks a password set
with ``set_password()`` until the save (``_password``, the same marker its password validators are told by);
a hash upgrade at login re-hashes the same password and clears the marker first, so it keeps the tokens.
Queryset ``update()`` calls send no signals: use ``users.tokens.revoke_tokens`` next to them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save

from users.tokens import revoke_tokens

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # AUTH_USER_MODEL

_REVOKE = "_revoke_api_tokens"


def note_credential_change(
    sender: type[User], instance: User, update_fields: frozenset[str] | None = None, **kwargs: Any
) -> None:
    if instance._state.adding or instance.pk is None:
        return  # a new account has no tokens yet
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. last_login at every login
    if getattr(instance, "_password", None) is not None:
        setattr(instance, _REVOKE, True)
        return
    stored = sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
    if stored is None:
        return
    deactivated = stored["is_active"] and not instance.is_active
    # set_unusable_password() (an admin taking a password away) changes the hash without the marker.
    password_removed = stored["password"] != instance.password and not instance.has_usable_password()
    if deactivated or password_removed:
        setattr(instance, _REVOKE, True)


def revoke_after_save(sender: type[User], instance: User, **kwargs: Any) -> None:
    if getattr(instance, _REVOKE, False):
        setattr(instance, _REVOKE, False)
        revoke_tokens(instance)


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(note_credential_change, sender=user_model, dispatch_uid="users.note_credential_change")
    post_save.connect(revoke_after_save, sender=user_model, dispatch_uid="users.revoke_after_save")
