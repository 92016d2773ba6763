"""Household sharing: the owner invites a person by e-mail to see (viewer) or also manage (manager) a meter.

The invitation is a one-time link holding a random token (only its SHA-256 is stored), valid for
:data:`INVITATION_DAYS`; whoever opens it while logged in, other than the owner, accepts it and from then on sees the
meter (``meters.access.readable_meters``). The owner sees and revokes every share; revoking takes effect at once.
Every step is in the audit log, without the e-mail address.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from meters.models import Meter, MeterShare, ShareRole, audit

logger = logging.getLogger(__name__)

INVITATION_DAYS = 7


class SharingError(Exception):
    """An invitation that cannot be made or accepted; the message says why, for the user."""


@dataclass(frozen=True)
class Invitation:
    share: MeterShare
    url: str  # the link in the e-mail


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(meter: Meter, email: str, role: str, accept_url: Callable[[str], str]) -> Invitation:
    """Invite ``email`` to ``meter`` with ``role`` and e-mail the link ``accept_url(token)``.

    Raises SharingError when the address already has an open or accepted share of this meter, or is the owner's.
    """
    email = email.strip()
    if role not in ShareRole.values:
        raise SharingError(_("Choose viewer or manager."))
    owner = meter.owner
    if owner is not None and owner.email and owner.email.lower() == email.lower():
        raise SharingError(_("That is your own address: you own this meter already."))
    if meter.shares.filter(email__iexact=email).exists():
        raise SharingError(_("%(email)s is invited already; revoke that share first to change it.") % {"email": email})
    token = secrets.token_urlsafe(32)
    share = MeterShare.objects.create(meter=meter, email=email, role=role, token_hash=_hash(token))
    url = accept_url(token)
    context = {"meter": meter, "owner": owner, "role": share.get_role_display(), "url": url, "days": INVITATION_DAYS}
    subject = " ".join(render_to_string("meters/email/share_subject.txt", context).split())
    send_mail(subject, render_to_string("meters/email/share.txt", context), None, [email], fail_silently=False)
    audit("share_invited", meter.pk, share=share.pk, role=role)
    logger.info("sharing: meter %s shared as %s (share %s)", meter.pk, role, share.pk)
    return Invitation(share=share, url=url)


def invitation(token: str, now: Any = None) -> MeterShare:
    """The open invitation of ``token``. Raises SharingError for an unknown, used or expired link."""
    share = MeterShare.objects.select_related("meter", "meter__owner").filter(token_hash=_hash(token)).first()
    if share is None or share.accepted_at is not None:
        raise SharingError(_("This invitation link is not valid (any more). Ask for a new one."))
    if (now or timezone.now()) - share.invited_at > timedelta(days=INVITATION_DAYS):
        raise SharingError(_("This invitation has expired. Ask for a new one."))
    return share


def accept(user: Any, token: str) -> MeterShare:
    """``user`` accepts the invitation of ``token``. Raises SharingError (see :func:`invitation`), also when the
    user owns the meter or already sees it through another share."""
    with transaction.atomic():
        share = invitation(token)
        if share.meter.owner_id == user.pk:
            raise SharingError(_("You own this meter already."))
        share.user = user
        share.accepted_at = timezone.now()
        try:
            with transaction.atomic():
                share.save(update_fields=["user", "accepted_at"])
        except IntegrityError:
            raise SharingError(_("This meter is shared with you already.")) from None
    audit("share_accepted", share.meter_id, share=share.pk, role=share.role)
    return share


def revoke(share: MeterShare) -> None:
    """The owner takes the share back: the person no longer sees the meter, an unused link stops working."""
    meter_id, share_id = share.meter_id, share.pk
    share.delete()
    audit("share_revoked", meter_id, share=share_id)


def leave(user: Any, meter: Meter) -> None:
    """``user`` stops seeing a meter shared with them."""
    deleted, _count = MeterShare.objects.filter(meter=meter, user=user).delete()
    if deleted:
        audit("share_left", meter.pk)
