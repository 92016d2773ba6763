"""Who may see and write which meters and readings: every owner rule of the server, in one module.

HTML views, API views and services ask here; none filters by owner itself. A meter that is not the user's is
"not found" (404), never "forbidden": a stranger learns nothing about which codes exist.

Three roles on a meter (docs/your-data.md, "Sharing"): its **owner**; a **manager** (a share with role manager:
sees it and renames it, keeps its contracts); a **viewer** (sees its dashboards, live data and bills). Only the owner
claims, releases, deletes, pairs, shares, receives its alerts and uploads for it. :func:`meter_for` asks for the
owner unless told otherwise (``need=READ`` or ``MANAGE``), so a view that forgets to say grants the least.
"""

from __future__ import annotations

import enum
import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from meters.models import Alert, Contract, Device, Meter, MeterShare, Reading, ShareRole


def owned_meters(user: Any) -> QuerySet[Meter]:
    """The meters ``user`` owns (none for an anonymous user)."""
    if not user.is_authenticated:
        return Meter.objects.none()
    return Meter.objects.filter(owner=user)


class Need(enum.Enum):
    """What a caller wants to do with a meter; each includes the ones below it."""

    READ = "read"  # owner, manager, viewer
    MANAGE = "manage"  # owner, manager
    OWN = "own"  # the owner only


def readable_meters(user: Any) -> QuerySet[Meter]:
    """The meters ``user`` owns or sees through an accepted share (none for an anonymous user)."""
    if not user.is_authenticated:
        return Meter.objects.none()
    # A subquery, not a join: counts annotated on the result (readings per meter) stay right.
    return Meter.objects.filter(Q(owner=user) | Q(pk__in=MeterShare.objects.filter(user=user).values("meter_id")))


def managed_meters(user: Any) -> QuerySet[Meter]:
    """The meters ``user`` owns or manages through a share with the manager role."""
    if not user.is_authenticated:
        return Meter.objects.none()
    managed = MeterShare.objects.filter(user=user, role=ShareRole.MANAGER).values("meter_id")
    return Meter.objects.filter(Q(owner=user) | Q(pk__in=managed))


_METERS = {Need.READ: readable_meters, Need.MANAGE: managed_meters, Need.OWN: owned_meters}


def meter_for(user: Any, code: str | uuid.UUID, need: Need = Need.OWN) -> Meter:
    """The meter with this public code if ``user`` may do ``need`` with it. Raises ``Http404`` for malformed and
    unknown codes and for meters the user may not use that way alike (DRF turns it into its 404 ``{"detail": ...}``):
    a viewer learns no more about a delete URL than a stranger."""
    try:
        code = uuid.UUID(str(code))
    except ValueError:
        raise Http404(_("No such meter")) from None
    try:
        return _METERS[need](user).get(code=code)
    except Meter.DoesNotExist:
        raise Http404(_("No such meter")) from None


def role_of(user: Any, meter: Meter) -> str | None:
    """ "owner", "manager", "viewer" or None: what the pages show and offer."""
    if not user.is_authenticated:
        return None
    if meter.owner_id == user.pk:
        return "owner"
    return meter.shares.filter(user=user).values_list("role", flat=True).first()


def may_read_any(user: Any) -> bool:
    """Active staff and holders of ``meters.view_reading`` read every meter's readings (the operator)."""
    return bool(user.is_authenticated and user.is_active and (user.is_staff or user.has_perm("meters.view_reading")))


def may_write_any(user: Any) -> bool:
    """Active staff and holders of ``meters.add_reading`` write readings for any serial (the operator's fleet)."""
    return bool(user.is_authenticated and user.is_active and (user.is_staff or user.has_perm("meters.add_reading")))


def readings_visible_to(user: Any) -> QuerySet[Reading]:
    """Every reading ``user`` may read: all of them for the operator, else those of the meters the user owns or
    sees through a share."""
    if may_read_any(user):
        return Reading.objects.all()
    if not user.is_authenticated:
        return Reading.objects.none()
    return Reading.objects.filter(meter__in=readable_meters(user))


def may_write(user: Any, meter: Meter, has_readings: bool) -> bool:
    """Whether ``user``'s upload may write readings for the existing ``meter``: the operator always; the owner;
    and any signed-in account for an unclaimed meter that has no readings yet (its first upload claims it, see
    ``meters.ingest``). An unclaimed meter with data needs the register proof of ``meters.claims``."""
    if may_write_any(user) or (meter.owner_id is not None and meter.owner_id == user.pk):
        return True
    return meter.owner_id is None and not has_readings and user.is_authenticated


def may_send_live(user: Any, meter: Meter) -> bool:
    """Whether ``user`` (or a device of theirs) may post live snapshots for ``meter``: the owner and the operator.
    An unclaimed meter takes none: its first quarter-hour upload claims it (``may_write``), a snapshot never does."""
    # The owner first: may_write_any asks the permission tables, two queries on every snapshot of a household.
    return (meter.owner_id is not None and meter.owner_id == user.pk) or may_write_any(user)


def owned_devices(user: Any) -> QuerySet[Device]:
    """The paired devices of ``user``, revoked ones included (they stay listed)."""
    if not user.is_authenticated:
        return Device.objects.none()
    return Device.objects.filter(owner=user)


def device_for(user: Any, device_id: Any) -> Device:
    """``user``'s device with this id; ``Http404`` for another account's device and for ids that are no number."""
    text = str(device_id)
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise Http404(_("No such device"))
    try:
        return owned_devices(user).get(pk=int(text))
    except Device.DoesNotExist:
        raise Http404(_("No such device")) from None


def alerts_visible_to(user: Any) -> QuerySet[Alert]:
    """The alerts sent to ``user`` (none for an anonymous user): only the account they went to sees them, even after
    the meter went to another account."""
    if not user.is_authenticated:
        return Alert.objects.none()
    return Alert.objects.filter(owner=user)


def contract_for(user: Any, code: str | uuid.UUID, contract_id: str | int) -> Contract:
    """A contract of meter ``code`` that ``user`` manages; Http404 for anything else (as :func:`meter_for`)."""
    meter = meter_for(user, code, Need.MANAGE)
    try:
        return Contract.objects.get(meter=meter, pk=int(contract_id))
    except (ValueError, Contract.DoesNotExist):
        raise Http404(_("No such contract")) from None


def share_for(user: Any, code: str | uuid.UUID, share_id: str | int) -> MeterShare:
    """A share of meter ``code``, for its owner only; Http404 for anything else."""
    meter = meter_for(user, code)
    try:
        return MeterShare.objects.get(meter=meter, pk=int(share_id))
    except (ValueError, MeterShare.DoesNotExist):
        raise Http404(_("No such share")) from None


def shared_with(user: Any) -> QuerySet[MeterShare]:
    """The accepted shares of other accounts' meters that ``user`` sees."""
    if not user.is_authenticated:
        return MeterShare.objects.none()
    return MeterShare.objects.filter(user=user).select_related("meter", "meter__owner")
