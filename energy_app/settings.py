"""Settings for the P1 energy monitoring server.

Every value comes from the environment through the small helpers below, which raise
``ImproperlyConfigured`` naming the variable and the expected form. The defaults run a local
development server on SQLite; ``energy_app.checks`` flags defaults that are unsafe in production.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# Development-only key; with DEBUG off the server refuses to start on it (require_secret_key).
DEFAULT_SECRET_KEY = "dev-insecure-only-for-local-runs-change-me"  # noqa: S105 (public on purpose)
SECRET_KEY_MIN_LENGTH = 50

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {raw!r}")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_days_or_forever(name: str) -> int | None:
    """A number of days (a whole number >= 1), or None for "forever": unset, empty or ``forever``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip().lower() in ("", "forever"):
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ImproperlyConfigured(
            f"{name} must be a whole number of days (1 or more), or empty or 'forever' to keep them forever; "
            f"got {raw!r}"
        )
    return value


def env_decimal(name: str, default: str) -> Decimal:
    raw = os.environ.get(name, default)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name} must be a decimal number such as {default}, got {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise ImproperlyConfigured(f"{name} must be a finite number >= 0, got {raw!r}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url_list(name: str, default: str = "") -> list[str]:
    items = env_list(name, default)
    for item in items:
        if not item.startswith(("http://", "https://")):
            raise ImproperlyConfigured(
                f"{name} must be a comma-separated list of origins like https://example.org, got {item!r}"
            )
    return items


# Several gunicorn workers and threads write one SQLite file. WAL lets readers go on beside the one writer.
# IMMEDIATE takes the write lock when a transaction begins: a DEFERRED one that read first must upgrade its lock,
# and SQLite refuses such an upgrade with "database is locked" at once, without waiting (this made 277 of 4,761
# uploads fail). The busy timeout (seconds) then lets writers queue instead of failing. synchronous=NORMAL is
# safe with WAL: a power cut may lose the last commits, never the database.
SQLITE_FILE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def database_from_url(url: str, name: str = "DATABASE_URL") -> dict:
    """Turn ``sqlite:///path``, ``postgres://...`` or ``mssql://...`` into a Django DATABASES entry."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options = dict(parse_qsl(parts.query))
    if scheme == "sqlite":
        # As in SQLAlchemy and dj-database-url: sqlite:///relative/file, sqlite:////absolute/file.
        path = unquote(parts.path)
        if path.startswith("/"):
            path = path[1:]
        if path in ("", ":memory:"):
            path = ":memory:"
        elif not os.path.isabs(path):
            path = str(BASE_DIR / path)
        # An in-memory database belongs to one process (the tests); WAL and lock modes are for a shared file.
        sqlite_options: dict[str, object] = {"timeout": 20} if path == ":memory:" else dict(SQLITE_FILE_OPTIONS)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": sqlite_options}
    if scheme in ("postgres", "postgresql", "pgsql"):
        config = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
        if not config["NAME"]:
            raise ImproperlyConfigured(f"{name} must name a database: postgres://user:pass@host:5432/dbname")
        return config
    if scheme in ("mssql", "sqlserver"):
        mssql_options = {"driver": options.pop("driver", "ODBC Driver 18 for SQL Server")}
        extra = ";".join(f"{key}={value}" for key, value in options.items())
        mssql_options["extra_params"] = extra or "Encrypt=yes;TrustServerCertificate=no"
        config = {
            "ENGINE": "mssql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or "1433"),
            "OPTIONS": mssql_options,
        }
        if not config["NAME"]:
            raise ImproperlyConfigured(f"{name} must name a database: mssql://user:pass@host:1433/dbname")
        return config
    raise ImproperlyConfigured(
        f"{name} must start with sqlite:///, postgres:// or mssql://, got scheme {scheme or '(none)'!r}"
    )


def require_secret_key(secret_key: str, debug: bool) -> None:
    """Refuse a key that signs nothing safely (unset, the public development key, short) unless debugging.

    Sessions, password-reset links and the API's JWTs are signed with it: with the public key anyone can mint
    a token for any account. Raises ``ImproperlyConfigured`` naming the variable and the expected form, never
    the key itself (it ends up in logs).
    """
    if debug:
        return
    if not secret_key:
        reason = "it is not set"
    elif secret_key == DEFAULT_SECRET_KEY:
        reason = "it is the public development key"
    elif len(secret_key) < SECRET_KEY_MIN_LENGTH:
        reason = f"it has {len(secret_key)} characters"
    elif len(set(secret_key)) < 5:
        reason = "it has fewer than 5 different characters"
    else:
        return
    raise ImproperlyConfigured(
        f"SECRET_KEY must be a random value of at least {SECRET_KEY_MIN_LENGTH} characters when DEBUG is off, "
        f"but {reason}. Generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )


SECRET_KEY = env_str("SECRET_KEY", DEFAULT_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
# pytest-django imports these settings before any conftest could set the environment; a test process serves
# no one, so it may sign with the development key (servers that tests start as subprocesses get a real one).
if "pytest" not in sys.modules:
    require_secret_key(SECRET_KEY, debug=DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_url_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "social_django",
    "axes",
    "csp",
    "tailwind",
    "theme",
    "energy_app.apps.EnergyAppConfig",
    "users",
    "meters",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before whitenoise, so static files carry the browser policies too (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "energy_app.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Cookie, then Accept-Language; the profile's choice wins once the user is known (users.middleware).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Acts on the response, once the view (and DRF's authentication) has run: pins a writer's reads to the primary.
    "energy_app.routers.PinAfterWriteMiddleware",
    "users.middleware.ProfileLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "social_django.middleware.SocialAuthExceptionMiddleware",
    # Last, as django-axes requires, so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "energy_app.urls"
WSGI_APPLICATION = "energy_app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "social_django.context_processors.backends",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": database_from_url(DATABASE_URL)}
# Optional read replica: dashboards, series, bill and BI reads go there, writes (and a user's reads right after
# that user wrote) to the primary (energy_app.routers). The router is always installed: without the alias it
# routes nothing. The test runner mirrors the replica onto the test database instead of creating a second one.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL").strip()
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **database_from_url(DATABASE_REPLICA_URL, name="DATABASE_REPLICA_URL"),
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["energy_app.routers.ReplicaRouter"]
# Seconds a user's reads stay on the primary after that user wrote: longer than the replica's usual lag.
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 10, minimum=0)


_REDIS_FORM = "redis://host:port/db (rediss:// for TLS), e.g. redis://127.0.0.1:6379/0"


def cache_from_url(url: str, name: str = "REDIS_URL") -> dict:
    """Turn ``redis://[:password@]host[:port][/db]`` (or ``rediss://``) into a Django CACHES entry for Redis.

    Raises ``ImproperlyConfigured`` naming the variable and the expected form; the password is never repeated.
    """
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or 0 < parts.port
    except ValueError:  # not a number, or above 65535
        port_ok = False
    database = parts.path[1:] if parts.path.startswith("/") else parts.path
    if (
        parts.scheme.lower() not in ("redis", "rediss")
        or not parts.hostname
        or not port_ok
        or not (database == "" or (database.isascii() and database.isdigit()))
    ):
        # The user-info part may hold a password, which belongs in no log.
        shown = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl() if "@" in parts.netloc else url
        raise ImproperlyConfigured(f"{name} must look like {_REDIS_FORM}, got {shown!r}")
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        # A Redis that does not answer fails the request within seconds instead of holding a worker.
        "OPTIONS": {"socket_connect_timeout": 5, "socket_timeout": 5},
    }


# Throttles, login lockouts and claim limits count across every worker process and instance, so they need a
# cache all of them share: Redis when REDIS_URL is set, otherwise a table in the database (created by
# `manage.py migrate`, see energy_app.apps). MAX_ENTRIES is far above Django's 300, whose culling would drop
# live throttle counters as soon as a few hundred clients were counted.
REDIS_URL = env_str("REDIS_URL").strip()
if REDIS_URL:
    CACHES = {"default": cache_from_url(REDIS_URL)}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "p1_cache",
            "OPTIONS": {"MAX_ENTRIES": 50_000},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The product's languages (docs/glossary.md): chosen from the profile, then the django_language cookie (the header's
# switcher, /i18n/setlang/), then Accept-Language; English otherwise. Each app keeps its catalogue in <app>/locale/.
LANGUAGE_CODE = "en"
LANGUAGES = [("nl", "Nederlands"), ("fr", "Français"), ("de", "Deutsch"), ("en", "English")]
# Belgian formats per language (dates, decimal comma, Monday first): energy_app/formats/<lang>/formats.py.
FORMAT_MODULE_PATH = ["energy_app.formats"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env_str("TIME_ZONE", "Europe/Brussels")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE must be an IANA zone such as Europe/Brussels, got {TIME_ZONE!r}") from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            # On in the Docker image, where collectstatic ran at build; off for runserver and tests.
            if env_bool("STATIC_MANIFEST", False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Without a collected manifest (tests, runserver) whitenoise serves from the finders.
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

# URL names: Django resolves them (resolve_url) where it redirects, as does users.views.
LOGIN_URL = "users:login"
# The landing page: Now when a meter sent live power within the last minute, else Day (meters.dashboard_views.home).
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "users:login"

# --- e-mail -------------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
    if EMAIL_USE_TLS and EMAIL_USE_SSL:
        raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
else:
    EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "P1 Energy <no-reply@localhost>")

# --- security (production) ---------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_HTTPS_PROXY", False) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
X_FRAME_OPTIONS = "DENY"

TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# --- authentication ----------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # django-axes first so a locked-out account is refused before any password check.
    "axes.backends.AxesStandaloneBackend",
    "users.backends.UsernameOrEmailBackend",
]

AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "users/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
# Username in any case and the e-mail all count against one account (see users/lockout.py).
AXES_USERNAME_CALLABLE = "users.lockout.lockout_username"
AXES_VERBOSE = False
# Behind proxies the lockout must key on the client, not the proxy, and without a configured proxy count on the
# socket address only: the same rule as the API's token throttle (TRUSTED_PROXY_COUNT).
AXES_CLIENT_IP_CALLABLE = "users.lockout.client_ip"
# A locked account is told when it unlocks (page and API), and a refused try while locked does not move that time.
AXES_LOCKOUT_CALLABLE = "users.lockout.lockout_response"
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False

# Social login: a provider is offered only when both its key and secret are set.
SOCIAL_AUTH_URL_NAMESPACE = "social"
SOCIAL_AUTH_GOOGLE_OAUTH2_KEY = env_str("SOCIAL_AUTH_GOOGLE_OAUTH2_KEY")
SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET = env_str("SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET")
SOCIAL_AUTH_GITHUB_KEY = env_str("SOCIAL_AUTH_GITHUB_KEY")
SOCIAL_AUTH_GITHUB_SECRET = env_str("SOCIAL_AUTH_GITHUB_SECRET")
SOCIAL_AUTH_GITHUB_SCOPE = ["user:email"]
SOCIAL_AUTH_AZUREAD_V2_OAUTH2_KEY = env_str("SOCIAL_AUTH_AZUREAD_V2_OAUTH2_KEY")
SOCIAL_AUTH_AZUREAD_V2_OAUTH2_SECRET = env_str("SOCIAL_AUTH_AZUREAD_V2_OAUTH2_SECRET")
SOCIAL_PROVIDERS = [
    (backend, label)
    for backend, label, key, secret in (
        ("google-oauth2", "Google", SOCIAL_AUTH_GOOGLE_OAUTH2_KEY, SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET),
        ("github", "GitHub", SOCIAL_AUTH_GITHUB_KEY, SOCIAL_AUTH_GITHUB_SECRET),
        ("azuread-v2-oauth2", "Microsoft", SOCIAL_AUTH_AZUREAD_V2_OAUTH2_KEY, SOCIAL_AUTH_AZUREAD_V2_OAUTH2_SECRET),
    )
    if key and secret
]
_SOCIAL_BACKENDS = {
    "google-oauth2": "social_core.backends.google.GoogleOAuth2",
    "github": "social_core.backends.github.GithubOAuth2",
    "azuread-v2-oauth2": "social_core.backends.azuread_v2.AzureADV2OAuth2",
}
AUTHENTICATION_BACKENDS += [_SOCIAL_BACKENDS[backend] for backend, _ in SOCIAL_PROVIDERS]
# Default pipeline without associate_by_email: an unverified e-mail never links to an existing account.
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    "social_core.pipeline.user.get_username",
    "social_core.pipeline.user.create_user",
    "social_core.pipeline.social_auth.associate_user",
    "social_core.pipeline.social_auth.load_extra_data",
    "social_core.pipeline.user.user_details",
)
# A URL name: social_django's strategy resolves every *_URL setting with resolve_url.
SOCIAL_AUTH_LOGIN_ERROR_URL = "users:login"

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # SimpleJWT's, plus the account's token version: a password change or deactivation revokes every token.
        # A paired Pi's token (meters.devices), told apart from a JWT by its prefix: it is tried first.
        "api.authentication.DeviceTokenAuthentication",
        "users.tokens.VersionedJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: signed in, and not a device token (those may only upload, api.permissions.DeviceMayUpload).
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "api.permissions.NotADevice",
    ],
    # How many reverse proxies (nginx, App Service front ends) append to X-Forwarded-For; 0 trusts none (None
    # would make DRF trust the whole header). users.lockout.client_ip reads it for the lockout as well.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Every JSON body goes through the guarded parser (deep nesting, odd charsets: 400, never 500), token views too.
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.DecimalJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "token": env_str("THROTTLE_TOKEN_RATE", "20/min"),
        "ingest": env_str("THROTTLE_INGEST_RATE", "600/min"),
        # Per client address: pairing codes asked for, and polls for the device token.
        "device_code": env_str("THROTTLE_DEVICE_CODE_RATE", "10/hour"),
        "device_token": env_str("THROTTLE_DEVICE_TOKEN_RATE", "120/min"),
    },
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 5, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 1, minimum=1)),
    # Each refresh returns a new refresh token and blacklists the one used: a stolen token works once at most.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    # users.tokens: the token version claim, the login lockout's answer and input limits at the token endpoints.
    "TOKEN_OBTAIN_SERIALIZER": "users.tokens.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "users.tokens.TokenRefreshSerializer",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "P1 Energy API",
    "DESCRIPTION": "Ingest and read quarter-hour readings of Fluvius digital meters.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- ingest limits -----------------------------------------------------------------------------
INGEST_MAX_BATCH = env_int("INGEST_MAX_BATCH", 1000, minimum=1)
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1024)
INGEST_MAX_FUTURE = timedelta(days=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES

# --- retention (meters.retention, manage.py apply_retention) -------------------------------------
# How many days of raw quarter-hours (readings and the quarter rollups) are kept, counted back from today's local
# midnight; None (unset, empty or "forever", the default) keeps them forever. Day totals and monthly peaks are
# kept for ever either way.
RETENTION_RAW_DAYS = env_days_or_forever("RETENTION_RAW_DAYS")
# The privacy page (/privacy/): where this server and its database run, and whom users ask about their data.
PRIVACY_HOSTING = env_str("PRIVACY_HOSTING", "")  # e.g. "Microsoft Azure, West Europe (the Netherlands)"
PRIVACY_CONTACT = env_str("PRIVACY_CONTACT", "")  # an e-mail address or a postal address

# --- live power (meters.live) -------------------------------------------------------------------
# How long the latest snapshot of a meter is kept in the cache (it shows when the Pi was last heard of), when a
# snapshot counts as stale (the Now page says the Pi is offline), and the least time between two of one meter.
LIVE_SNAPSHOT_TTL = env_int("LIVE_SNAPSHOT_TTL_SECONDS", 7 * 24 * 3600, minimum=60)
LIVE_STALE_SECONDS = env_int("LIVE_STALE_SECONDS", 60, minimum=5)
LIVE_MIN_INTERVAL = env_int("LIVE_MIN_INTERVAL_SECONDS", 2, minimum=0)

# --- claim and registration limits (meters.claims.claim_meter, users.views.register) ----------
# Wrong day-register proofs: per meter from all accounts together, per client network (an IPv6 client's /64),
# per account. Accounts created per client network.
CLAIM_MAX_WRONG_PER_METER_PER_DAY = env_int("CLAIM_MAX_WRONG_PER_METER_PER_DAY", 10, minimum=1)
CLAIM_MAX_WRONG_PER_ADDRESS_PER_HOUR = env_int("CLAIM_MAX_WRONG_PER_ADDRESS_PER_HOUR", 10, minimum=1)
CLAIM_MAX_WRONG_PER_ACCOUNT_PER_HOUR = env_int("CLAIM_MAX_WRONG_PER_ACCOUNT_PER_HOUR", 5, minimum=1)
REGISTER_MAX_PER_ADDRESS_PER_HOUR = env_int("REGISTER_MAX_PER_ADDRESS_PER_HOUR", 5, minimum=1)

# --- device pairing (meters.devices, RFC 8628) ---------------------------------------------------
# How long a pairing code may wait for its approval, and how often the Pi may poll for its token.
DEVICE_CODE_LIFETIME = timedelta(minutes=env_int("DEVICE_CODE_MINUTES", 10, minimum=1))
DEVICE_POLL_INTERVAL = env_int("DEVICE_POLL_SECONDS", 5, minimum=1)

# --- prices (Flemish defaults, per user editable) ----------------------------------------------
PRICE_IMPORT_DAY_EUR_KWH = env_decimal("PRICE_IMPORT_DAY_EUR_KWH", "0.30")
PRICE_IMPORT_NIGHT_EUR_KWH = env_decimal("PRICE_IMPORT_NIGHT_EUR_KWH", "0.25")
PRICE_EXPORT_EUR_KWH = env_decimal("PRICE_EXPORT_EUR_KWH", "0.04")
PRICE_CAPACITY_EUR_KW_YEAR = env_decimal("PRICE_CAPACITY_EUR_KW_YEAR", "53.26")
PRICE_GAS_EUR_M3 = env_decimal("PRICE_GAS_EUR_M3", "1.00")
CAPACITY_MINIMUM_KW = Decimal("2.5")

# --- Qlik Sense embed (optional) ---------------------------------------------------------------
QLIK_TENANT_HOST = env_str("QLIK_TENANT_HOST")
QLIK_WEB_INTEGRATION_ID = env_str("QLIK_WEB_INTEGRATION_ID")
QLIK_APP_ID = env_str("QLIK_APP_ID")
QLIK_OBJECT_IDS = env_list("QLIK_OBJECT_IDS")
QLIK_ENABLED = bool(QLIK_TENANT_HOST and QLIK_WEB_INTEGRATION_ID and QLIK_APP_ID and QLIK_OBJECT_IDS)

# --- browser policies ----------------------------------------------------------------------------
# Scripts and styles from this site only: the vendored uPlot, dashboard.js and the built Tailwind CSS, so an
# injected inline script or style="" never applies. uPlot and dashboard.js style elements through element.style
# (the CSSOM), which CSP allows. The Qlik tenant is allowed only when the embed is configured; the social
# providers are form targets because their login starts with a POST that redirects there.
_QLIK_ORIGINS = [f"https://{QLIK_TENANT_HOST}"] if QLIK_ENABLED else []
# The Qlik capability API talks to the tenant's engine over a WebSocket.
_QLIK_SOCKETS = [f"wss://{QLIK_TENANT_HOST}"] if QLIK_ENABLED else []
_SOCIAL_LOGIN_ORIGINS = {
    "google-oauth2": "https://accounts.google.com",
    "github": "https://github.com",
    "azuread-v2-oauth2": "https://login.microsoftonline.com",
}
_CONTENT_SECURITY_POLICY = {
    # drf-spectacular's Swagger UI page starts itself with an inline script (SpectacularSwaggerSplitView does not).
    "EXCLUDE_URL_PREFIXES": ["/api/docs/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, *_QLIK_ORIGINS],
        "style-src": [SELF, *_QLIK_ORIGINS],
        "img-src": [SELF, *_QLIK_ORIGINS],
        "font-src": [SELF, *_QLIK_ORIGINS],
        "connect-src": [SELF, *_QLIK_ORIGINS, *_QLIK_SOCKETS],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF, *(_SOCIAL_LOGIN_ORIGINS[backend] for backend, _ in SOCIAL_PROVIDERS)],
    },
}
# Django's debug pages use inline styles and scripts: while debugging, violations are reported, not enforced.
if DEBUG:
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CONTENT_SECURITY_POLICY
else:
    CONTENT_SECURITY_POLICY = _CONTENT_SECURITY_POLICY
# Browser features no page uses, off for the site and anything it embeds (energy_app.middleware).
PERMISSIONS_POLICY: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        (
            "accelerometer",
            "autoplay",
            "camera",
            "display-capture",
            "encrypted-media",
            "geolocation",
            "gyroscope",
            "hid",
            "idle-detection",
            "magnetometer",
            "microphone",
            "midi",
            "payment",
            "picture-in-picture",
            "publickey-credentials-get",
            "screen-wake-lock",
            "serial",
            "usb",
            "xr-spatial-tracking",
        ),
        (),
    ),
    "fullscreen": ("self",),
}

# --- theme -------------------------------------------------------------------------------------
TAILWIND_APP_NAME = "theme"
NPM_BIN_PATH = env_str("NPM_BIN_PATH", "npm")

# --- logging -----------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {"django": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False}},
}
