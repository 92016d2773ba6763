"""Local calendar buckets of the series (docs/design.md, "Series and numbers").

Buckets follow local wall time (``settings.TIME_ZONE`` unless a zone is given): a day has 92, 96 or 100
quarter-hours, a week's DST day has a 3 h or 5 h bucket, a month has one bucket per local day, a year one per local
month. Boundaries are UTC
epoch seconds: the queries and the register arithmetic never convert thousands of rows to datetime objects.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext as _

from meters.series.errors import InvalidDate, InvalidTimeZone, UnknownView

VIEWS = ("day", "week", "month", "year")
SLOT_SECONDS = 900
WEEK_BUCKET_HOURS = 4


def _unknown_view(view: str) -> UnknownView:
    return UnknownView(
        _("Unknown view %(view)s: use one of %(views)s") % {"view": repr(view), "views": ", ".join(VIEWS)}
    )


def check_view(view: str) -> None:
    """Raises UnknownView unless ``view`` is one of VIEWS."""
    if view not in VIEWS:
        raise _unknown_view(view)


def _zone(tz: str | None) -> ZoneInfo:
    name = tz or settings.TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTimeZone(_("Unknown time zone %(zone)s") % {"zone": repr(name)}) from None


def _local_epoch(zone: ZoneInfo, d: date, hour: int = 0) -> int:
    """UTC epoch seconds of a local wall-time hour of a day."""
    return int(datetime(d.year, d.month, d.day, hour, tzinfo=zone).timestamp())


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def window_days(view: str, day: date) -> tuple[date, date]:
    """First local day of the window and the first day after it."""
    if view == "day":
        return day, day + timedelta(days=1)
    if view == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    if view == "month":
        first = day.replace(day=1)
        return first, _add_months(first, 1)
    if view == "year":
        return date(day.year, 1, 1), date(day.year + 1, 1, 1)
    raise _unknown_view(view)


def step(view: str, day: date, direction: int) -> date:
    """The day that selects the previous (-1) or next (+1) period of this view."""
    if view == "day":
        return day + timedelta(days=direction)
    if view == "week":
        return day + timedelta(days=7 * direction)
    if view == "month":
        return _add_months(day.replace(day=1), direction)
    if view == "year":
        return date(day.year + direction, 1, 1)
    raise _unknown_view(view)


def _add_months(first: date, n: int) -> date:
    index = first.year * 12 + first.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def boundaries(view: str, day: date, tz: str | None = None) -> list[int]:
    """Bucket boundaries as UTC epoch seconds, at local wall-time boundaries; len = buckets + 1."""
    zone = _zone(tz)
    first, after = window_days(view, day)
    if view == "day":
        start, end = _local_epoch(zone, first), _local_epoch(zone, after)
        return list(range(start, end + 1, SLOT_SECONDS))
    if view == "year":
        return [_local_epoch(zone, _add_months(first, m)) for m in range(13)]
    days = [first + timedelta(days=i) for i in range((after - first).days)]
    if view == "week":
        points = [_local_epoch(zone, d, h) for d in days for h in range(0, 24, WEEK_BUCKET_HOURS)]
    else:
        points = [_local_epoch(zone, d) for d in days]
    points.append(_local_epoch(zone, after))
    return points


def parse_day(text: str | None, tz: str | None = None) -> date:
    """A ``YYYY-MM-DD`` query value; today (local) when empty. Raises InvalidDate."""
    if not text:
        return dj_timezone.now().astimezone(_zone(tz)).date()
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise InvalidDate(_("Invalid date %(text)s: use the form YYYY-MM-DD") % {"text": repr(text)}) from None
    if not 2000 <= value.year <= 2100:
        raise InvalidDate(_("Date %(text)s is out of range (years 2000 to 2100)") % {"text": repr(text)})
    return value


def year_ago(view: str, day: date) -> date:
    """The day that selects the same period a year before: the same date (28 February for a 29th), for a week the
    same weekday 52 weeks back (so Monday to Sunday line up), for a month or a year its first day a year back."""
    if view == "week":
        return day - timedelta(weeks=52)
    if view in ("month", "year"):
        return step("year", day, -1).replace(month=day.month if view == "month" else 1)
    check_view(view)
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)
