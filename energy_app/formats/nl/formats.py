"""Belgian Dutch formats (docs/glossary.md, "Numbers, dates and money"): dd/mm/yyyy, 24 h, decimal comma, Monday
first."""

from energy_app.formats.belgium import (  # noqa: F401 - Django reads them from this module
    DATE_FORMAT,
    DATE_INPUT_FORMATS,
    DATETIME_FORMAT,
    FIRST_DAY_OF_WEEK,
    LONG_WEEKDAY_DATE_FORMAT,
    MONTH_DAY_FORMAT,
    NUMBER_GROUPING,
    SHORT_DATE_FORMAT,
    SHORT_DATETIME_FORMAT,
    THOUSAND_SEPARATOR,
    TIME_FORMAT,
    YEAR_MONTH_FORMAT,
)

DECIMAL_SEPARATOR = ","
WEEK_START_FORMAT = r"\W\e\e\k W: j b"
WEEK_END_FORMAT = "j b Y"
WEEKDAY_DATE_FORMAT = "D j b"
WEEKDAY_DATETIME_FORMAT = "D j b H:i"
CURRENCY_FORMAT = "€\u00a0{}"
MONTH_SHORT_FORMAT = "b y"
