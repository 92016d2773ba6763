from django.apps import AppConfig


class MetersConfig(AppConfig):
    name = "meters"

    def ready(self) -> None:
        from meters import bi

        bi.connect_signals(self)
