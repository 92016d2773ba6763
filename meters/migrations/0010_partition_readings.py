"""Placeholder: on PostgreSQL this migration will turn meters_reading into a table partitioned by month."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("meters", "0009_alerts"),
    ]

    operations: list = []
