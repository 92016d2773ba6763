from django.apps import AppConfig


class EnergyAppConfig(AppConfig):
    name = "energy_app"
    verbose_name = "P1 Energy"

    def ready(self) -> None:
        from energy_app import checks  # noqa: F401  (registers the system checks)
