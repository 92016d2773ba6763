"""The SQL side of the series (docs/design.md, "Series and numbers"): readings as plain integer tuples.

Registers come out of the database as exact integers (Wh, or litres for gas; the registers have 3 decimals) and
timestamps as UTC epoch seconds, so the register arithmetic in ``build`` and ``capacity`` never touches Decimal or
datetime per row. A row is a tuple indexed by the ``_EP``, ``_I1`` ... constants below (the order of ``_COLUMNS``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from django.db import connections, router
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Cast, Lag, Round, TruncMonth

from meters.models import DayEnergy, Meter, Reading
from meters.series.windows import SLOT_SECONDS, _utc

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler, _AsSqlType  # _AsSqlType exists in django-stubs only


class Epoch(Func):
    """A datetime column as integer UTC epoch seconds (saves converting thousands of rows to datetime objects)."""

    output_field = BigIntegerField()
    template = "CAST(EXTRACT(EPOCH FROM %(expressions)s) AS BIGINT)"

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> _AsSqlType:
        # Django stores UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'; julianday() avoids strftime's '%' escaping.
        template = "CAST(ROUND((julianday(%(expressions)s) - 2440587.5) * 86400) AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra_context)

    def as_microsoft(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> _AsSqlType:
        template = "DATEDIFF_BIG(second, '19700101', %(expressions)s)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def _milli(field: str) -> Cast:
    """A 3-decimal register as an exact integer (Wh, or litres for gas); NULL stays NULL."""
    return Cast(Round(F(field) * Value(1000)), BigIntegerField())


def _float(field: str) -> Cast:
    return Cast(F(field), FloatField())


_COLUMNS = {
    "ep": Epoch("timestamp"),
    "i1": _milli("import_t1_kwh"),
    "i2": _milli("import_t2_kwh"),
    "e1": _milli("export_t1_kwh"),
    "e2": _milli("export_t2_kwh"),
    "gas": _milli("gas_m3"),
    "l1i": _float("l1_import_kw"),
    "l2i": _float("l2_import_kw"),
    "l3i": _float("l3_import_kw"),
    "l1e": _float("l1_export_kw"),
    "l2e": _float("l2_export_kw"),
    "l3e": _float("l3_export_kw"),
    "mpk": _milli("month_peak_kw"),  # W
    "mpa": Epoch("month_peak_at"),
}
_EP, _I1, _I2, _E1, _E2, _GAS, _L1I, _L2I, _L3I, _L1E, _L2E, _L3E, _MPK, _MPA = range(len(_COLUMNS))
_REGISTERS = (_I1, _I2, _E1, _E2)


class RangeQuery:
    """A query over one meter's readings in [start, end], compiled once per database and reused.

    Building and compiling a queryset with a dozen expressions costs a few milliseconds of Python, more than
    running it: ingest asks for several such ranges on every upload. ``build(meter_id, start, end)`` returns the
    queryset; it is compiled once with marker values, whose positions in the parameters are then filled in.
    """

    _METER = -7_300_001
    _START = datetime(1901, 1, 1, 0, 0, 1, tzinfo=UTC)
    _END = datetime(1901, 1, 2, 0, 0, 2, tzinfo=UTC)

    def __init__(self, build: Callable[[int, datetime, datetime], QuerySet[Any]]) -> None:
        self._build = build
        self._compiled: dict[str, tuple[str, list[Any], int, int, int, bool]] = {}

    def _compile(self, alias: str) -> tuple[str, list[Any], int, int, int, bool]:
        found = self._compiled.get(alias)
        if found is None:
            qs = self._build(self._METER, self._START, self._END).using(alias)
            sql, params = qs.query.sql_with_params()
            ops = connections[alias].ops
            values = list(params)
            marks = [ops.adapt_datetimefield_value(m) for m in (self._START, self._END)]
            adapted = marks[0] in values
            start_at = values.index(marks[0] if adapted else self._START)
            end_at = values.index(marks[1] if adapted else self._END)
            found = (sql, values, values.index(self._METER), start_at, end_at, adapted)
            self._compiled[alias] = found
        return found

    def fetch(self, meter_id: int, start: int, end: int, alias: str | None = None) -> list[tuple]:
        """The rows as plain tuples (every column is already an int or float in SQL: no ORM conversion)."""
        alias = alias or router.db_for_read(Reading)  # the database the router chose (a replica for dashboards)
        sql, template, meter_at, start_at, end_at, adapted = self._compile(alias)
        params = list(template)
        params[meter_at] = meter_id
        ops = connections[alias].ops
        for at, epoch in ((start_at, start), (end_at, end)):
            params[at] = ops.adapt_datetimefield_value(_utc(epoch)) if adapted else _utc(epoch)
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


_ROWS = RangeQuery(
    lambda meter_id, start, end: (
        Reading.objects.filter(meter_id=meter_id, timestamp__gte=start, timestamp__lte=end)
        .order_by("timestamp")
        .annotate(**_COLUMNS)
        .values_list(*_COLUMNS)
    )
)


def _rows(meter: Meter | int, start: int, end: int) -> list[tuple]:
    """Readings with start <= slot <= end (the end boundary included), only the needed columns, in time order."""
    return _ROWS.fetch(meter if isinstance(meter, int) else meter.pk, start, end)


def _neighbour(meter: Meter | int, epoch: int, before: bool, *, gas: bool = False) -> tuple | None:
    """The nearest reading strictly before / after an instant (to interpolate across the window's edge); with
    ``gas``, the nearest one that has a gas register."""
    qs = Reading.objects.filter(meter=meter)
    if gas:
        qs = qs.filter(gas_m3__isnull=False)
    if before:
        qs = qs.filter(timestamp__lt=_utc(epoch)).order_by("-timestamp")
    else:
        qs = qs.filter(timestamp__gt=_utc(epoch)).order_by("timestamp")
    return qs.annotate(**_COLUMNS).values_list(*_COLUMNS).first()


def _month_index(edges: list[int]) -> Case:
    """Index i of the month [edges[i], edges[i + 1]) holding a reading; -1 outside them."""
    return Case(
        *[
            When(timestamp__gte=_utc(a), timestamp__lt=_utc(b), then=Value(i))
            for i, (a, b) in enumerate(pairwise(edges))
        ],
        default=Value(-1),
        output_field=IntegerField(),
    )


def _month_reading_counts(meter: Meter, edges: list[int]) -> dict[int, int]:
    """Number of readings per month index, for months [edges[i], edges[i+1]); months without readings are absent."""
    return dict(
        Reading.objects.filter(meter=meter, timestamp__gte=_utc(edges[0]), timestamp__lt=_utc(edges[-1]))
        .annotate(mi=_month_index(edges))
        .values("mi")
        .annotate(n=Count("*"))  # "*" keeps it an index-only scan (counting pk reads the table)
        .order_by()
        .values_list("mi", "n")
    )


def _month_peaks_sql(meter: Meter, edges: list[int]) -> dict[int, int]:
    """Peak quarter-hour import energy x 4 (W) per month index, for months [edges[i], edges[i+1]).

    LAG over the readings gives each slot's predecessor; only pairs exactly one slot apart count (a gap would
    spread several quarters' energy over one). A quarter belongs to the month of its starting slot.
    """
    order = F("timestamp").asc()
    month_index = _month_index(edges)
    registers = {name: _milli(f"{name}_kwh") for name in ("import_t1", "import_t2", "export_t1", "export_t2")}
    inner = (
        Reading.objects.filter(meter=meter, timestamp__gte=_utc(edges[0]), timestamp__lte=_utc(edges[-1]))
        .annotate(
            mi=month_index,
            ep=Epoch("timestamp"),
            **registers,
            # django-stubs types Lag's expression as `str | None`; Django's LagLeadFunction passes it on to
            # Func(*expressions), which takes any expression (and requires one: None raises ValueError).
            p_ep=Window(Lag(Epoch("timestamp")), order_by=order),  # type: ignore[arg-type]
            **{
                f"p_{name}": Window(Lag(expr), order_by=order)  # type: ignore[arg-type]
                for name, expr in registers.items()
            },
            p_mi=Window(Lag(month_index), order_by=order),  # type: ignore[arg-type]
        )
        .values_list("mi", "ep", *registers, "p_ep", *(f"p_{name}" for name in registers), "p_mi")
    )
    sql, params = inner.query.sql_with_params()
    # The same rule as capacity.is_measured_quarter: consecutive slots, no electricity register goes down.
    no_drop = " AND ".join(f"s.{name} >= s.p_{name}" for name in registers)
    outer = (
        "SELECT s.p_mi, MAX(s.import_t1 + s.import_t2 - s.p_import_t1 - s.p_import_t2) "  # noqa: S608
        f"FROM (%s) s WHERE s.ep - s.p_ep = %%s AND {no_drop} AND s.p_mi >= 0 GROUP BY s.p_mi"
    )
    result: dict[int, int] = {}
    with connections[inner.db].cursor() as cursor:
        cursor.execute(outer % sql, [*params, SLOT_SECONDS])
        for mi, wh in cursor.fetchall():
            result[int(mi)] = int(wh) * 4
    return result


# --- the year view's months: its finished days summed per month --------------------------------------------------

ENERGIES = ("import_t1_wh", "import_t2_wh", "export_t1_wh", "export_t2_wh")
# A known day: both import registers known (``build._day_bucket``'s rule for a finished day).
_KNOWN = Q(import_t1_wh__isnull=False, import_t2_wh__isnull=False)
_UNFINISHED = Q(partial=True) | Q(gas_partial=True)
_MONTH_SUMS: dict[str, Any] = {
    "known": Count("day", filter=_KNOWN),
    # Named apart from the fields: an annotation that shadows one turns the filters above into aggregates of it.
    **{f"sum_{a}": Sum(a, filter=_KNOWN) for a in ENERGIES},
    "sum_gas": Sum("gas_l", filter=_KNOWN),
    "sum_readings": Sum("readings"),
    "estimated": Count("day", filter=_KNOWN & (Q(start_estimated=True) | Q(end_estimated=True))),
    "gas_estimated": Count("day", filter=_KNOWN & (Q(gas_start_estimated=True) | Q(gas_end_estimated=True))),
    "resets": Count("day", filter=Q(reset=True)),
    "gas_resets": Count("day", filter=Q(gas_reset=True)),
    "gas_days": Count("day", filter=Q(has_gas=True)),
    "peak_export": Max("peak_export_w"),
    **{f"sum_l{n}_kw_sum": Sum(f"l{n}_kw_sum") for n in (1, 2, 3)},
    **{f"sum_l{n}_samples": Sum(f"l{n}_samples") for n in (1, 2, 3)},
}
_MARK_METER = -7_300_002
_MARK_DAYS = tuple(date(1901, 1, k) for k in range(1, 9))  # first, after, then up to six DST days


def _month_sums_query(meter_id: int, first: date, after: date, dst_days: list[date]) -> QuerySet[Any]:
    rows = DayEnergy.objects.filter(meter_id=meter_id, day__gte=first, day__lt=after)
    return (
        rows.annotate(month=TruncMonth("day"), open=Case(When(_UNFINISHED, then=True), default=False))
        .values("month", "open")
        .annotate(**_MONTH_SUMS, known_dst=Count("day", filter=_KNOWN & Q(day__in=dst_days)))
        .order_by()
    )


_MONTH_SUMS_SQL: dict[tuple[str, int], tuple[str, list[Any], int, list[int]]] = {}


def month_sums(meter_id: int, first: date, after: date, dst_days: list[date]) -> list[dict[str, Any]]:
    """Per local month and per finished (``open`` False) or unfinished day: the sums of the days' figures the year
    view adds up (``_MONTH_SUMS``; ``known_dst`` counts the known DST days among ``dst_days``).

    Compiled once per database and number of DST days with marker values, as ``RangeQuery`` does: building the
    two dozen filtered aggregates costs more Python than running them.
    """
    alias = router.db_for_read(DayEnergy)
    key = (alias, len(dst_days))
    found = _MONTH_SUMS_SQL.get(key)
    if found is None:
        marks = list(_MARK_DAYS[: 2 + len(dst_days)])
        qs = _month_sums_query(_MARK_METER, marks[0], marks[1], marks[2:]).using(alias)
        compiled_sql, compiled_params = qs.query.sql_with_params()
        values = list(compiled_params)
        adapt = connections[alias].ops.adapt_datefield_value
        positions = [next(i for i, v in enumerate(values) if v in (m, adapt(m))) for m in marks]
        found = (compiled_sql, values, values.index(_MARK_METER), positions)
        _MONTH_SUMS_SQL[key] = found
    sql, template, meter_at, positions = found
    params = list(template)
    params[meter_at] = meter_id
    adapt = connections[alias].ops.adapt_datefield_value
    for at, value in zip(positions, [first, after, *dst_days], strict=True):
        params[at] = adapt(value) if isinstance(template[at], str) else value
    names = ["month", "open", *_MONTH_SUMS, "known_dst"]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        # Without Django's converters: SQLite hands back the truncated month as text and the flag as 0 or 1,
        # PostgreSQL the month as a timestamp.
        month = row["month"]
        row["month"] = (
            month.date()
            if isinstance(month, datetime)
            else month
            if isinstance(month, date)
            else date.fromisoformat(str(month)[:10])
        )
        row["open"] = bool(row["open"])
        # PostgreSQL sums BIGINT columns as NUMERIC (Decimal): integers and floats again, as the fields are.
        for name, value in row.items():
            if name.startswith("sum_") and value is not None:
                row[name] = float(value) if name.endswith("_kw_sum") else int(value)
    return rows
