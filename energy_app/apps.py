from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def create_cache_tables(sender: AppConfig, using: str = "default", verbosity: int = 1, **kwargs: Any) -> None:
    """post_migrate: create the database cache's table where ``migrate`` runs (make run, the Docker entrypoint, a
    self-hoster's upgrade, the test database), so every worker shares throttles and limits from the first request.

    ``createcachetable`` skips a table that exists and caches that are not database-backed (Redis).
    """
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)


class EnergyAppConfig(AppConfig):
    name = "energy_app"
    verbose_name = "P1 Energy"

    def ready(self) -> None:
        from energy_app import checks  # noqa: F401  (registers the system checks)

        # Sent once per migrated app; the command is idempotent, so connecting without a sender is simplest.
        post_migrate.connect(create_cache_tables, dispatch_uid="energy_app.create_cache_tables")
