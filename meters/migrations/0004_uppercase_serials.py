"""Serials are stored trimmed and in upper case (meters.claims.normalise_serial): bring older rows in line.

A row whose normalised serial already exists is left alone and logged: merging two meters' readings is an
operator's decision (Django admin), not a migration's.
"""

import logging

from django.db import migrations

logger = logging.getLogger(__name__)


def uppercase_serials(apps, schema_editor):
    Meter = apps.get_model("meters", "Meter")
    taken = set(Meter.objects.values_list("serial", flat=True))
    for meter in Meter.objects.all().only("pk", "serial"):
        wanted = meter.serial.strip().upper()
        if wanted == meter.serial:
            continue
        if wanted in taken:
            logger.warning("meter %s: serial %r kept, %r exists already", meter.pk, meter.serial, wanted)
            continue
        taken.discard(meter.serial)
        taken.add(wanted)
        Meter.objects.filter(pk=meter.pk).update(serial=wanted)


class Migration(migrations.Migration):
    dependencies = [("meters", "0003_claimattempt")]

    operations = [migrations.RunPython(uppercase_serials, migrations.RunPython.noop)]
