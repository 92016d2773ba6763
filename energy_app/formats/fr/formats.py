"""Belgian French formats (docs/glossary.md, "Numbers, dates and money"): dd/mm/yyyy, 24 h, decimal comma, Monday
first."""

DATE_FORMAT = "j F Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j F Y H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
FIRST_DAY_OF_WEEK = 1
DATE_INPUT_FORMATS = ["%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d"]
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "\u202f"
NUMBER_GROUPING = 3

# The project's own formats (Django looks any name up in this module; meters.presenters reads them with
# django.utils.formats.get_format, and theme/static/js/dashboard.js follows the same rules with Intl):
# a day page's heading, a week page's heading (first day with the ISO week number, then the last day), a bucket or
# a peak on the cards, and where the euro sign goes ("{}" is the number, a minus sign U+2212 comes before it all).
LONG_WEEKDAY_DATE_FORMAT = "l j F Y"
WEEK_START_FORMAT = "\\S\\e\\m\\a\\i\\n\\e W\u00a0: j N"  # "Semaine 24 : 10 juin", no-break space before the colon
WEEK_END_FORMAT = "j N Y"
WEEKDAY_DATE_FORMAT = "D. j N"
WEEKDAY_DATETIME_FORMAT = "D. j N H:i"
CURRENCY_FORMAT = "{}\u00a0€"
# The capacity card's month labels ("Jul 23").
MONTH_SHORT_FORMAT = "N y"
