"""Errors of the series service: bad input for a series request, with a message meant for the user."""

from __future__ import annotations


class SeriesError(ValueError):
    """Bad input for a series request; the message is meant for the user."""


class UnknownView(SeriesError):
    pass


class InvalidDate(SeriesError):
    pass


class InvalidTimeZone(SeriesError):
    pass


class InvalidRange(SeriesError):
    """A range of days that cannot be shown: the start after the end, or too long (meters.series.trends)."""
