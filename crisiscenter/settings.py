"""Crisis Center settings: one module, read from environment variables.

With no environment variables at all this gives the *embedded* mode: SQLite in ``var/``,
an in-process Celery worker and beat over an in-memory transport, and the in-memory channel
layer, all started by ``manage.py serve``. Setting ``DATABASE_URL`` and ``REDIS_URL`` gives
the *production* mode: PostgreSQL, Redis as Celery broker, cache and channel layer, and
separate web / websocket / worker / beat processes (see ``Procfile``).
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from crisiscenter.env import env_bool, env_int, env_list, env_str, env_url
from crisiscenter.redis_config import channel_layer_config

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("CRISISCENTER_DATA_DIR", str(BASE_DIR / "var")))

DATABASE_URL = env_url("DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss"))

# Embedded: no broker configured, so the worker and the channel layer live in this process.
EMBEDDED = REDIS_URL == ""

DEBUG = env_bool("DEBUG", default=EMBEDDED and not DATABASE_URL)

INSECURE_DEFAULT_SECRET_KEY = "insecure-embedded-development-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", INSECURE_DEFAULT_SECRET_KEY)
if not DEBUG and (SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 32 characters when DEBUG is off "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the public host names when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS entry {_origin!r} must start with http:// or https://.")

# Keys for secrets stored in the database (see crisiscenter/crypto.py); comma-separated for
# rotation. Unset: derived from SECRET_KEY (fine for the embedded mode).
FIELD_ENCRYPTION_KEY = env_str("FIELD_ENCRYPTION_KEY", "")
for _key in filter(None, (k.strip() for k in FIELD_ENCRYPTION_KEY.split(","))):
    import base64 as _base64
    import binascii as _binascii

    try:
        if len(_base64.urlsafe_b64decode(_key.encode())) != 32:
            raise ValueError
    except (ValueError, _binascii.Error):
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be Fernet keys (python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
        ) from None

# Public base URL used in e-mails (invitation links, password resets sent by tasks).
SITE_URL = env_url("SITE_URL", schemes=("http", "https")) or "http://127.0.0.1:8000"
# Where browsers open WebSockets; empty means the same origin as the page.
WEBSOCKET_URL = env_url("WEBSOCKET_URL", schemes=("ws", "wss"))

# One switch per external integration, so an operator can cut a misbehaving network off
# without a deploy. Sources and channels check these before they call out.
INTEGRATIONS = {
    name: env_bool(f"INTEGRATION_{name.upper()}_ENABLED", default=True)
    for name in ("x", "mastodon", "bluesky", "reddit", "rss", "webhook", "slack", "teams", "email")
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "axes",
    "crisiscenter",
    "playbooks",
    "monitoring",
    "responses",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "crisiscenter.middleware.RequestContextMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crisiscenter.urls"
WSGI_APPLICATION = "crisiscenter.wsgi.application"
ASGI_APPLICATION = "crisiscenter.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crisiscenter.context_processors.shell",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            conn_health_checks=True,
        )
    }
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / "staticfiles").mkdir(exist_ok=True)  # whitenoise warns when STATIC_ROOT is missing
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "crisiscenter.sqlite3",
            "OPTIONS": {
                # WAL lets the web thread read while the embedded worker writes; IMMEDIATE
                # takes the write lock up front so two writers queue instead of deadlocking.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------------------
AUTH_USER_MODEL = "crisiscenter.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed-login throttling: lock a username+address pair after 5 failures for 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_VERBOSE = False

SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
if env_int("TRUSTED_PROXY_COUNT", 0, minimum=0):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 7, minimum=1, maximum=90)

# --- I18n / time ------------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve straight from the source folders when collectstatic has not run (embedded mode).
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", default=DEBUG)

# --- E-mail -----------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if EMBEDDED or not INTEGRATIONS["email"]
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive.")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Crisis Center <crisis-center@localhost>")

# --- Cache ------------------------------------------------------------------------------
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Channels ---------------------------------------------------------------------------
if REDIS_URL:
    CHANNEL_LAYERS = {"default": channel_layer_config(env_list("CHANNEL_LAYER_REDIS_URLS", [REDIS_URL]))}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "crisiscenter.layers.ThreadSafeInMemoryChannelLayer"}}

# --- Celery -----------------------------------------------------------------------------
# No lost work: a task is acknowledged only after it finished, a worker takes one task at a
# time, and Redis redelivers an unacknowledged task only after the visibility timeout, which
# must stay longer than any countdown we schedule (see crisiscenter.tasks.MAX_COUNTDOWN).
CELERY_BROKER_URL = REDIS_URL or "memory://"
# The longest countdown/ETA any task may be scheduled with (retries back off up to this).
MAX_TASK_COUNTDOWN_SECONDS = 3600
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 4 * 3600, minimum=60)}
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= MAX_TASK_COUNTDOWN_SECONDS + 300:
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT must exceed the longest task countdown "
        f"({MAX_TASK_COUNTDOWN_SECONDS} s) by at least 5 minutes, or Redis redelivers scheduled tasks twice."
    )
if EMBEDDED:
    # The in-memory transport polls; keep the embedded worker as snappy as Redis's BRPOP.
    CELERY_BROKER_TRANSPORT_OPTIONS["polling_interval"] = 0.1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=2)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be longer than CELERY_TASK_SOFT_TIME_LIMIT.")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 15, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {
        "task": "crisiscenter.tasks.record_worker_heartbeat",
        "schedule": float(WORKER_HEARTBEAT_SECONDS),
    },
    "flag-overdue-incident-tasks": {
        "task": "playbooks.tasks.flag_overdue_tasks",
        "schedule": 30.0,
    },
    "poll-due-sources": {
        "task": "monitoring.tasks.poll_due_sources",
        "schedule": 10.0,
    },
    "resume-stalled-ingest-jobs": {
        "task": "monitoring.tasks.resume_stalled_jobs",
        "schedule": 15.0,
    },
    "close-quiet-spikes": {
        "task": "monitoring.tasks.close_quiet_spikes",
        "schedule": 60.0,
    },
    "prune-volume": {
        "task": "monitoring.tasks.prune_volume",
        "schedule": 3600.0,
    },
    "resume-publications": {
        "task": "responses.tasks.resume_publications",
        "schedule": 30.0,
    },
    "escalate-overdue-reviews": {
        "task": "responses.tasks.escalate_overdue_reviews",
        "schedule": 30.0,
    },
    "check-promises": {
        "task": "responses.tasks.check_promises",
        "schedule": 30.0,
    },
    "resume-replies": {
        "task": "responses.tasks.resume_replies",
        "schedule": 30.0,
    },
    "scheduled-posts": {
        "task": "responses.tasks.scheduled_posts_tick",
        "schedule": 15.0,
    },
}
# A poll holds its source this long at most (then another worker may take it over).
SOURCE_POLL_LEASE_SECONDS = env_int("SOURCE_POLL_LEASE_SECONDS", CELERY_TASK_TIME_LIMIT + 60, minimum=10)
# An import or drill chunk holds its job this long; a job whose next chunk is this late is resumed.
INGEST_JOB_LEASE_SECONDS = env_int("INGEST_JOB_LEASE_SECONDS", CELERY_TASK_TIME_LIMIT + 60, minimum=2)
INGEST_JOB_STALL_SECONDS = env_int("INGEST_JOB_STALL_SECONDS", 30, minimum=1)
# News feeds on loopback or private addresses are refused (an admin could otherwise make a
# worker read internal pages); a single-organisation install may allow its intranet feeds.
MONITORING_FEEDS_ALLOW_PRIVATE_ADDRESSES = env_bool("MONITORING_FEEDS_ALLOW_PRIVATE_ADDRESSES", default=False)
# A mention reaching at least this many people (monitoring.enrich.reach_score) goes on the
# war room's ticker the moment it is stored.
MONITORING_HIGH_REACH = env_int("MONITORING_HIGH_REACH", 10_000, minimum=1)
# How long each resolution of the volume series is kept (days): minutes for the live charts
# and detection, 5-minute buckets for the weeks after, hours for the reviews of the year.
VOLUME_RETENTION_DAYS = {
    1: env_int("VOLUME_RETENTION_MINUTE_DAYS", 14, minimum=2),
    5: env_int("VOLUME_RETENTION_FIVE_MINUTE_DAYS", 90, minimum=7),  # the API reads a week at 5 minutes
    60: env_int("VOLUME_RETENTION_HOUR_DAYS", 2 * 365, minimum=2),
}

# --- API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "crisiscenter.api_support.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "crisiscenter.api_support.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("API_RATE_LIMIT", "1200/minute")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")
SPECTACULAR_SETTINGS = {
    "TITLE": "Crisis Center API",
    "DESCRIPTION": "Organisation-scoped API of Crisis Center. Authenticate with "
    "`Authorization: Token <key>` (create a key on your account page) or a browser session.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets come from the app itself (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Organisation roles and incident roles are different things with the same field name.
    "ENUM_NAME_OVERRIDES": {
        "OrganizationRoleEnum": "crisiscenter.models.Role",
        "IncidentRoleEnum": "playbooks.document.PlaybookRole.CHOICES",
        "IncidentStatusEnum": "playbooks.models.IncidentStatus",
        "MentionStatusEnum": "monitoring.models.MentionStatus",
        "IngestJobStatusEnum": "monitoring.models.JobStatus",
        "RumourStatusEnum": "monitoring.models.RumourStatus",
        "SourceKindEnum": "monitoring.models.SourceKind",
        "IngestJobKindEnum": "monitoring.models.JobKind",
        "StatementKindEnum": "responses.models.StatementKind",
        "StatementStatusEnum": "responses.models.StatementStatus",
        "ChannelKindEnum": "responses.models.ChannelKind",
        "ChannelAccountKindEnum": "responses.api.ACCOUNT_CHANNEL_KINDS",
        "PublicationStatusEnum": "responses.models.PublicationStatus",
        "PromiseStatusEnum": "responses.models.PromiseStatus",
    },
}

# --- Logging ----------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"axes": {"level": "WARNING"}},
}
