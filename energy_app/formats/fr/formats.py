"""Belgian French formats (docs/glossary.md, "Numbers, dates and money"): dd/mm/yyyy, 24 h, decimal comma, Monday
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
WEEK_START_FORMAT = "\\S\\e\\m\\a\\i\\n\\e W\u00a0: j N"  # "Semaine 24 : 10 juin", no-break space before the colon
WEEK_END_FORMAT = "j N Y"
WEEKDAY_DATE_FORMAT = "D. j N"
WEEKDAY_DATETIME_FORMAT = "D. j N H:i"
CURRENCY_FORMAT = "{}\u00a0€"
MONTH_SHORT_FORMAT = "N y"
