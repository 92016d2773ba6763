"""On PostgreSQL, meters_reading becomes a table partitioned by local month (meters/partitions.py, docs/scaling.md).

Nothing changes in Django's model state and nothing happens on SQLite or SQL Server. On PostgreSQL the rows are
copied into a new table ``PARTITION BY RANGE ("timestamp")`` with a partition per month from the earliest reading to
three months after the running one and a DEFAULT partition; the primary key becomes (meter_id, "timestamp") under
the name of the unique constraint it replaces, ``reading_unique_meter_slot``, and ``id`` keeps its identity and
gets a plain index. The table is locked while the rows are copied. The BI views are dropped before and rebuilt
after every migrate (meters.bi), so they do not stand in the way.
"""

from django.db import migrations

from meters import partitions


class Migration(migrations.Migration):

    dependencies = [
        ("meters", "0009_alerts"),
    ]

    operations = [
        migrations.RunPython(partitions.partition_table, partitions.unpartition_table, elidable=False),
    ]
