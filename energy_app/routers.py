"""Dashboard, series and BI reads from a read replica (``DATABASE_REPLICA_URL``), everything else on the primary.

A read goes to the replica only where code asked for it: views decorated with :func:`replica_reads` (or DRF views with
:class:`ReplicaReadsMixin`) and blocks inside :func:`reading_from_replica`. Everything else, every write and every
read inside ``transaction.atomic`` stays on the primary, so no read-modify-write ever sees the replica's lag.

A replica lags the primary by up to a few seconds. A user who just saved something (renamed a meter, changed prices)
must see it on the next page, so :class:`PinAfterWriteMiddleware` pins that user to the primary for
``settings.REPLICA_PIN_SECONDS`` after each write. The pin is kept in the Django cache because every worker and
instance shares it, and an API client carries no cookie. Without a ``replica`` alias all of this is a no-op.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from meters.models import Device

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

    _MixinBase = APIView
else:
    # The mixin only ever sits on a DRF view, which brings APIView along; the router itself needs no DRF.
    _MixinBase = object

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA = "replica"
READ_METHODS = frozenset({"GET", "HEAD"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PIN_KEY = "replica:pin:%s"
# Tables that a request reads and then writes (throttle counters, lockouts and live snapshots in the database cache,
# the session): read from a lagging copy, they would lose updates or let a limit be passed.
_PRIMARY_ONLY_APPS = frozenset({"django_cache", "sessions"})

_View = TypeVar("_View", bound=Callable[..., Any])

_replica_allowed: ContextVar[bool] = ContextVar("replica_allowed", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def pin_key(user_id: object) -> str:
    return _PIN_KEY % user_id


def pin_to_primary(user_id: object) -> None:
    """Send ``user_id``'s reads to the primary for ``REPLICA_PIN_SECONDS``, so the user sees what they just wrote."""
    seconds = settings.REPLICA_PIN_SECONDS
    if seconds <= 0 or not replica_configured():
        return
    # The time is stored as well: a cache may round the timeout up, the pin must still end on time.
    cache.set(pin_key(user_id), time.time() + seconds, timeout=seconds)


def is_pinned(user: Any) -> bool:
    """Whether ``user`` wrote within the last ``REPLICA_PIN_SECONDS`` (anonymous visitors never are)."""
    if user is None or not user.is_authenticated:
        return False
    until = cache.get(pin_key(user.pk))
    return until is not None and until > time.time()


def may_read_from_replica(request: HttpRequest | Request) -> bool:
    """A GET or HEAD of a user who has not just written, with a replica configured (checked first: no cache read
    without one)."""
    return request.method in READ_METHODS and replica_configured() and not is_pinned(request.user)


@contextmanager
def reading_from_replica() -> Iterator[None]:
    """Reads inside this block may come from the replica (management commands, BI exports): only for code that can
    live with data a few seconds old."""
    token = _replica_allowed.set(True)
    try:
        yield
    finally:
        _replica_allowed.reset(token)


def replica_reads(view: _View) -> _View:
    """Decorator for function views (Django's, or DRF's beneath ``@api_view``): a GET or HEAD reads from the replica
    unless the user is pinned to the primary.

    Only what the view computes before it returns is covered: a streaming response or a TemplateResponse renders
    later, outside the block, and reads from the primary.
    """

    @functools.wraps(view)
    def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
        if not may_read_from_replica(request):
            return view(request, *args, **kwargs)
        with reading_from_replica():
            return view(request, *args, **kwargs)

    return cast(_View, wrapped)


class ReplicaReadsMixin(_MixinBase):
    """For DRF class-based views, first in the bases: GET and HEAD handlers read from the replica.

    DRF authenticates in ``initial()``, so the pin can be checked only there; ``dispatch`` resets the flag in a
    ``finally`` because an unhandled exception skips ``finalize_response``, and a flag left set would send the
    thread's next request to the replica.
    """

    _replica_token: Token[bool] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if may_read_from_replica(request):
            self._replica_token = _replica_allowed.set(True)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self._replica_token is not None:
                _replica_allowed.reset(self._replica_token)
                self._replica_token = None


class PinAfterWriteMiddleware:
    """After a POST, PUT, PATCH or DELETE by a signed-in user, that user's reads stay on the primary for a while.

    Looked at when the response is back: DRF authenticates inside the view and puts its user on this request then.
    A paired Pi's uploads do not pin its owner: they come every few seconds and would keep the owner off the replica
    for good, and a reading that shows up on the dashboard a second later is no surprise to anyone.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method not in WRITE_METHODS or not replica_configured():
            return response
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not isinstance(getattr(request, "auth", None), Device):
            pin_to_primary(user.pk)
            logger.debug("replica: user %s pinned to the primary after %s", user.pk, request.method)
        return response


class ReplicaRouter:
    """Django database router (``DATABASE_ROUTERS``): the replica for reads inside a replica block, else the
    primary. Without a replica alias a read gets None (Django's own choice), so the router changes nothing."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        if not replica_configured():
            return None
        if (
            _replica_allowed.get()
            and model._meta.app_label not in _PRIMARY_ONLY_APPS
            # A transaction reads what it is about to write, and must see its own uncommitted rows.
            and not transaction.get_connection(PRIMARY).in_atomic_block
        ):
            return REPLICA
        # Not None: Django would then fall back to the alias of an instance in the hints, so an object fetched from
        # the replica earlier in the request would drag its related reads there, inside a transaction too.
        return PRIMARY

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        # The replica is a copy of the primary that the database server keeps up to date: never migrated itself.
        return db == PRIMARY
