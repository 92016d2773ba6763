"""Deleting an account (docs/your-data.md, "Delete my account"): each owned meter is deleted with its data or
released, then the account goes; the audit log keeps the counts, never who it was."""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count

from meters import claims, devices
from meters.access import owned_devices, owned_meters
from meters.models import MeterShare, Reading, audit

logger = logging.getLogger(__name__)


class MeterChoice(enum.StrEnum):
    """What becomes of an owned meter when its account is deleted."""

    DELETE = "delete"  # the meter and every reading of it go (the default: nothing of the account stays)
    RELEASE = "release"  # the meter becomes unclaimed and keeps its readings (meters.claims.release_meter)


@dataclass(frozen=True)
class DeletedAccount:
    user_id: int
    meters_deleted: int
    meters_released: int
    readings_deleted: int
    readings_kept: int  # on the released meters
    devices_revoked: int
    shares_removed: int  # shares the account had received, and those of its released meters


def delete_account(user: Any, meter_choices: Mapping[int, MeterChoice | str]) -> DeletedAccount:
    """Delete ``user`` and, per owned meter (by primary key), its data (``"delete"``) or only its owner
    (``"release"``: the readings stay with the unclaimed meter). A meter missing from ``meter_choices`` (one that
    became the user's after the form was shown) is deleted with its data, the choice nothing is kept by.

    One transaction: either all of it happens or nothing does. Raises ``ValueError`` for a choice that is neither.
    The account's profile, alerts, devices, pending serials and claim attempts go with it (their foreign keys
    cascade); devices are revoked first, so the log says so. Audit: ``account_deleted`` with counts only.
    """
    choices = {pk: MeterChoice(choice) for pk, choice in meter_choices.items()}
    user_id = user.pk
    with transaction.atomic():
        # Locked: an upload to one of these meters waits until they are deleted or released, so the counts hold.
        meters = list(owned_meters(user).select_for_update().order_by("pk"))
        counts = dict(
            Reading.objects.filter(meter__in=meters)
            .values_list("meter_id")
            .annotate(n=Count("*"))
            .values_list("meter_id", "n")
        )
        deleted = released = readings_deleted = readings_kept = shares_removed = 0
        for meter in meters:
            if choices.get(meter.pk, MeterChoice.DELETE) is MeterChoice.RELEASE:
                # The shares were the owner's to give: viewers of a meter nobody owns would go on seeing it,
                # and whoever claims it next would find strangers looking at their data.
                shares_removed += MeterShare.objects.filter(meter=meter).delete()[0]
                claims.release_meter(meter)
                released += 1
                readings_kept += counts.get(meter.pk, 0)
            else:
                readings_deleted += claims.delete_meter_with_data(meter).readings_deleted
                deleted += 1
        active = list(owned_devices(user).filter(revoked_at__isnull=True))
        for device in active:
            devices.revoke_device(device)
        shares_removed += MeterShare.objects.filter(user=user).delete()[0]
        user.delete()
        audit(
            "account_deleted",
            user_id,
            meters_deleted=deleted,
            meters_released=released,
            readings_deleted=readings_deleted,
            readings_kept=readings_kept,
            devices_revoked=len(active),
        )
    logger.info(
        "account: user %s deleted, %d meters deleted (%d readings), %d released",
        user_id,
        deleted,
        readings_deleted,
        released,
    )
    return DeletedAccount(
        user_id=user_id,
        meters_deleted=deleted,
        meters_released=released,
        readings_deleted=readings_deleted,
        readings_kept=readings_kept,
        devices_revoked=len(active),
        shares_removed=shares_removed,
    )
