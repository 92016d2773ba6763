"""P1 edge: the Raspberry Pi side of P1 Energy. Never imports Django."""

__version__ = "1.0.0"
