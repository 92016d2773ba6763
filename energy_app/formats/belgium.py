"""What every language's formats share in Belgium (docs/glossary.md, "Numbers, dates and money"): a 24-hour clock,
weeks from Monday, thousands grouped with a narrow no-break space, and (except in German) dd/mm/yyyy. Each
``<lang>/formats.py`` imports these and adds its own."""

TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1
THOUSAND_SEPARATOR = "\u202f"
NUMBER_GROUPING = 3
DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y H:i"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
DATE_INPUT_FORMATS = ["%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d"]
LONG_WEEKDAY_DATE_FORMAT = "l j F Y"

# Each language also defines the project's own formats, which meters.presenters reads with
# django.utils.formats.get_format and theme/static/js/dashboard.js mirrors with Intl: a day page's heading, a week
# page's heading (first day with the ISO week number, then the last day), a bucket or a peak on the cards, where the
# euro sign goes ("{}" is the number; a minus sign U+2212 comes before it all), and the capacity card's month labels.
