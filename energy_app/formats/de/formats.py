"""Belgian German formats (docs/glossary.md): dd.mm.yyyy, 24 h, decimal comma, Monday first."""

from energy_app.formats.belgium import (  # noqa: F401 - Django reads them from this module
    FIRST_DAY_OF_WEEK,
    NUMBER_GROUPING,
    THOUSAND_SEPARATOR,
    TIME_FORMAT,
    YEAR_MONTH_FORMAT,
)

DATE_FORMAT = "j. F Y"
DATETIME_FORMAT = "j. F Y H:i"
MONTH_DAY_FORMAT = "j. F"
SHORT_DATE_FORMAT = "d.m.Y"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
DATE_INPUT_FORMATS = ["%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d"]
DECIMAL_SEPARATOR = ","
LONG_WEEKDAY_DATE_FORMAT = "l, j. F Y"
WEEK_START_FORMAT = r"\W\o\c\h\e W: j. N"
WEEK_END_FORMAT = "j. N Y"
WEEKDAY_DATE_FORMAT = "D., j. N"
WEEKDAY_DATETIME_FORMAT = "D., j. N H:i"
CURRENCY_FORMAT = "{}\u00a0€"
MONTH_SHORT_FORMAT = "N y"
