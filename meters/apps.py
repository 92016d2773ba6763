from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MetersConfig(AppConfig):
    name = "meters"
    verbose_name = _("Meters")

    def ready(self) -> None:
        from meters import bi

        bi.connect_signals(self)
