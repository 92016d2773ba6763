"""Stored rollups (meters/series/rollups.py): quarter, day and month tables, filled from the existing readings.

The fill uses the current code (meters.series.rollups.rebuild), not historical models: it must stay the last step
that touches these tables' shape, so a later migration that changes them moves this step behind it. On a large
database it takes a while (about 25,000 readings/s here); ``manage.py rebuild_rollups`` does the same per meter.
"""

import django.db.models.deletion
from django.db import migrations, models


def fill(apps, schema_editor):
    from meters.series import rollups

    Meter = apps.get_model("meters", "Meter")
    for meter_id in Meter.objects.using(schema_editor.connection.alias).values_list("pk", flat=True):
        rollups.rebuild(meter_id, using=schema_editor.connection.alias)


class Migration(migrations.Migration):

    dependencies = [
        ('meters', '0010_partition_readings'),
    ]

    operations = [
        migrations.CreateModel(
            name='DayEnergy',
            fields=[
                ('pk', models.CompositePrimaryKey('meter_id', 'day', blank=True, editable=False, primary_key=True, serialize=False)),
                ('day', models.DateField()),
                ('import_t1_wh', models.BigIntegerField(null=True)),
                ('import_t2_wh', models.BigIntegerField(null=True)),
                ('export_t1_wh', models.BigIntegerField(null=True)),
                ('export_t2_wh', models.BigIntegerField(null=True)),
                ('gas_l', models.BigIntegerField(null=True)),
                ('partial', models.BooleanField(default=False)),
                ('gas_partial', models.BooleanField(default=False)),
                ('start_estimated', models.BooleanField(default=False)),
                ('end_estimated', models.BooleanField(default=False)),
                ('gas_start_estimated', models.BooleanField(default=False)),
                ('gas_end_estimated', models.BooleanField(default=False)),
                ('reset', models.BooleanField(default=False)),
                ('gas_reset', models.BooleanField(default=False)),
                ('has_gas', models.BooleanField(default=False)),
                ('readings', models.PositiveIntegerField(default=0)),
                ('first_slot', models.DateTimeField(null=True)),
                ('last_slot', models.DateTimeField(null=True)),
                ('quarters_measured', models.PositiveIntegerField(default=0)),
                ('register_drops', models.PositiveIntegerField(default=0)),
                ('measured_import_t1_wh', models.BigIntegerField(default=0)),
                ('measured_import_t2_wh', models.BigIntegerField(default=0)),
                ('measured_export_t1_wh', models.BigIntegerField(default=0)),
                ('measured_export_t2_wh', models.BigIntegerField(default=0)),
                ('measured_gas_l', models.BigIntegerField(null=True)),
                ('peak_import_w', models.BigIntegerField(null=True)),
                ('peak_import_at', models.DateTimeField(null=True)),
                ('peak_export_w', models.BigIntegerField(null=True)),
                ('peak_export_at', models.DateTimeField(null=True)),
                ('meter_peak_w', models.BigIntegerField(null=True)),
                ('meter_peak_at', models.DateTimeField(null=True)),
                ('l1_kw_sum', models.FloatField(default=0.0)),
                ('l2_kw_sum', models.FloatField(default=0.0)),
                ('l3_kw_sum', models.FloatField(default=0.0)),
                ('l1_samples', models.PositiveIntegerField(default=0)),
                ('l2_samples', models.PositiveIntegerField(default=0)),
                ('l3_samples', models.PositiveIntegerField(default=0)),
                ('meter', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='meters.meter')),
            ],
        ),
        migrations.CreateModel(
            name='MonthEnergy',
            fields=[
                ('pk', models.CompositePrimaryKey('meter_id', 'month', blank=True, editable=False, primary_key=True, serialize=False)),
                ('month', models.DateField()),
                ('import_t1_wh', models.BigIntegerField(null=True)),
                ('import_t2_wh', models.BigIntegerField(null=True)),
                ('export_t1_wh', models.BigIntegerField(null=True)),
                ('export_t2_wh', models.BigIntegerField(null=True)),
                ('gas_l', models.BigIntegerField(null=True)),
                ('partial', models.BooleanField(default=False)),
                ('estimated', models.BooleanField(default=False)),
                ('reset', models.BooleanField(default=False)),
                ('has_gas', models.BooleanField(default=False)),
                ('days', models.PositiveIntegerField(default=0)),
                ('readings', models.PositiveIntegerField(default=0)),
                ('quarters_measured', models.PositiveIntegerField(default=0)),
                ('peak_w', models.BigIntegerField(null=True)),
                ('peak_at', models.DateTimeField(null=True)),
                ('meter_peak_w', models.BigIntegerField(null=True)),
                ('meter_peak_at', models.DateTimeField(null=True)),
                ('meter', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='meters.meter')),
            ],
        ),
        migrations.CreateModel(
            name='QuarterEnergy',
            fields=[
                ('pk', models.CompositePrimaryKey('meter_id', 'slot', blank=True, editable=False, primary_key=True, serialize=False)),
                ('slot', models.DateTimeField()),
                ('import_t1_wh', models.BigIntegerField()),
                ('import_t2_wh', models.BigIntegerField()),
                ('export_t1_wh', models.BigIntegerField()),
                ('export_t2_wh', models.BigIntegerField()),
                ('gas_l', models.BigIntegerField(null=True)),
                ('estimated', models.BooleanField(default=False)),
                ('reset', models.BooleanField(default=False)),
                ('gas_estimated', models.BooleanField(default=False)),
                ('gas_reset', models.BooleanField(default=False)),
                ('meter', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='meters.meter')),
            ],
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
