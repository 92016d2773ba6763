"""BI reporting views (bi_quarter_hour, bi_day, bi_month_peak) and their calendar tables.

The SQL is chosen by ``schema_editor.connection.vendor`` in meters/bi.py: "sqlite" and "postgresql" are tested here;
"microsoft" (SQL Server / Azure SQL through mssql-django) has its own dialect branch, reviewed but not runnable here
(rendered to docs/bi/sqlserver-views.sql). Reverse drops the views, then the tables.
"""

from django.conf import settings
from django.db import migrations

from meters import bi


class Migration(migrations.Migration):

    dependencies = [
        ("meters", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(bi.create_schema, bi.drop_schema),
    ]
