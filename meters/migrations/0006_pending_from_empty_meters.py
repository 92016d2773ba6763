"""Meters added on the website before any data arrived reserved their serial (issue 12, "serial squatting").

Such a meter (an owner, no reading) becomes what the Meters page makes of it now: a pending entry of its owner,
with its name, that reserves nothing; the first upload by a device of that account (or of another account that
really has the meter) creates the meter again. Meters with readings are not touched.
"""

import logging

from django.db import migrations

logger = logging.getLogger(__name__)


def empty_meters_to_pending(apps, schema_editor):
    Meter = apps.get_model("meters", "Meter")
    PendingMeter = apps.get_model("meters", "PendingMeter")
    empty = Meter.objects.filter(owner__isnull=False, readings__isnull=True)
    for meter in empty.only("pk", "serial", "name", "owner_id", "created_at"):
        PendingMeter.objects.get_or_create(
            user_id=meter.owner_id,
            serial=meter.serial,
            defaults={"name": meter.name, "created_at": meter.created_at},
        )
        logger.info("meter %s had no data: now a pending entry of user %s", meter.serial, meter.owner_id)
        meter.delete()


def pending_to_empty_meters(apps, schema_editor):
    # Back to the old model: the oldest pending entry of a serial that has no meter gets an empty meter.
    Meter = apps.get_model("meters", "Meter")
    PendingMeter = apps.get_model("meters", "PendingMeter")
    taken = set(Meter.objects.values_list("serial", flat=True))
    for pending in PendingMeter.objects.order_by("created_at", "pk"):
        if pending.serial not in taken:
            Meter.objects.create(serial=pending.serial, name=pending.name, owner_id=pending.user_id)
            taken.add(pending.serial)


class Migration(migrations.Migration):
    dependencies = [("meters", "0005_pending_meters_and_claim_limits")]

    operations = [migrations.RunPython(empty_meters_to_pending, pending_to_empty_meters)]
