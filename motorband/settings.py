"""MotorBand settings: one module, driven by environment variables with safe defaults for `make run`."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MOTORBAND_VAR", BASE_DIR / "var"))
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def proxy_header_order(header: str) -> tuple[str, ...]:
    """The request.META keys django-ipware reads the client address from: the trusted proxy's
    header (an HTTP header name such as X-Real-IP or X-Forwarded-For), then the socket address;
    only the socket address when no proxy header is trusted."""
    if not header:
        return ("REMOTE_ADDR",)
    key = header.strip().upper().replace("-", "_")
    return (key if key.startswith("HTTP_") else f"HTTP_{key}", "REMOTE_ADDR")


DEBUG = env_bool("DEBUG", True)
# A development key only: production refuses to start without SECRET_KEY (see below).
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "motorband-development-only-not-secret"

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
]
ALLOWED_HOSTS = [h for h in ALLOWED_HOSTS if h]
if DEBUG:
    ALLOWED_HOSTS += ["testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "core",
    "cohort",
    "imaging",
    "queries",
    "analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise (static files stay cacheable), before the rest (their answers get it too).
    "motorband.middleware.PrivacyHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "motorband.middleware.RejectNulCharactersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a login refused for lockout into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "motorband.urls"
WSGI_APPLICATION = "motorband.wsgi.application"

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
                "core.roles.role_context",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'motorband.sqlite3'}"),
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a writer rather than failing at once when the in-process worker holds the lock, and
    # take the write lock when a transaction begins: a transaction that read first and then tries
    # to write would otherwise fail at once with "database is locked" (SQLite cannot upgrade it
    # while another writer waits). WAL lets readers go on while one writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
    # A file, not memory: worker processes forked by tests must see the same test database.
    # MOTORBAND_TEST_DB names another file, so that two test runs of one clone never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("MOTORBAND_TEST_DB", str(VAR_DIR / "test-motorband.sqlite3"))
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The lockout check of django-axes first (motorband.ratelimit), then the usual password check.
AUTHENTICATION_BACKENDS = [
    "motorband.ratelimit.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LANGUAGE_CODE = "en-ca"
TIME_ZONE = os.environ.get("TIME_ZONE", "America/Edmonton")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Uploads: anything above 2.5 MB streams to a temporary file, never into memory; scans are capped.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024  # request bodies other than files
# The audit trail's "why" is a text field: a reason of any length is kept whole (the default
# 100-character column refused longer reasons on PostgreSQL, after the form had accepted them).
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
MOTORBAND_MAX_UPLOAD_BYTES = int(os.environ.get("MOTORBAND_MAX_UPLOAD_BYTES", 2 * 1024**3))
# The uploaded file's own name (often a patient's name or hospital number) is not kept unless a
# study asks for it: MOTORBAND_KEEP_UPLOAD_NAMES=1.
MOTORBAND_KEEP_UPLOAD_NAMES = os.environ.get("MOTORBAND_KEEP_UPLOAD_NAMES", "0") == "1"

# Security headers everywhere; HTTPS-only cookies and HSTS when not in development.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Cache-Control: no-store and the Content-Security-Policy: motorband.middleware.PrivacyHeadersMiddleware.
SESSION_COOKIE_HTTPONLY = True
# Idle timeout: a session ends after this many minutes without a request (every request renews it).
MOTORBAND_SESSION_IDLE_MINUTES = int(os.environ.get("MOTORBAND_SESSION_IDLE_MINUTES", 30))
SESSION_COOKIE_AGE = MOTORBAND_SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31_536_000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Behind a TLS-terminating proxy (nginx) that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = [
        o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
    ]

# Failed logins (form, admin, token endpoint) are counted by django-axes in the database; good
# logins are never limited. An account locks after AXES_FAILURE_LIMIT failures within the cool-off,
# from any address (the username) and so from one address (the username+address pair); one client
# address has its own, higher limit over all accounts (motorband.ratelimit), so that a locked
# account never locks the colleagues behind the same proxy. Unlock early with
# `manage.py axes_reset_username NAME`.
AXES_FAILURE_LIMIT = int(os.environ.get("MOTORBAND_LOGIN_FAILURE_LIMIT", 10))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("MOTORBAND_LOGIN_COOLOFF_MINUTES", 30)))
AXES_LOCKOUT_PARAMETERS = ["username", ["username", "ip_address"]]
MOTORBAND_LOGIN_ADDRESS_FAILURE_LIMIT = int(
    os.environ.get("MOTORBAND_LOGIN_ADDRESS_FAILURE_LIMIT", 100)
)
AXES_RESET_ON_SUCCESS = True  # a good login forgets that account's earlier failures
# Attempts refused during a lockout do not prolong it (the cool-off runs from the last counted one).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "motorband.ratelimit.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # successful logins are in the study's own access log (core.access)
AXES_VERBOSE = False
# The client address: REMOTE_ADDR, or the header a trusted reverse proxy sets (X-Real-IP, or
# X-Forwarded-For whose right-most entry the proxy appended; MOTORBAND_TRUSTED_PROXY_COUNT more
# trusted proxies in front of it are skipped). Never trust a header the client can reach Django with.
MOTORBAND_TRUSTED_PROXY_HEADER = os.environ.get("MOTORBAND_TRUSTED_PROXY_HEADER", "").strip()
MOTORBAND_TRUSTED_PROXY_COUNT = int(os.environ.get("MOTORBAND_TRUSTED_PROXY_COUNT", 0))
AXES_IPWARE_META_PRECEDENCE_ORDER = proxy_header_order(MOTORBAND_TRUSTED_PROXY_HEADER)
AXES_IPWARE_PROXY_COUNT = MOTORBAND_TRUSTED_PROXY_COUNT
AXES_IPWARE_PROXY_ORDER = "left-most"
IPWARE_STRICT = False  # extra entries a client put before the proxy's own are skipped, not fatal

# API tokens (django-rest-knox): stored as SHA-512 digests, expiring, revoked at logout and at a
# password change (core.tokens). Sent as `Authorization: Token KEY`.
MOTORBAND_TOKEN_TTL_HOURS = float(os.environ.get("MOTORBAND_TOKEN_TTL_HOURS", 10))
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=MOTORBAND_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["CACHE_URL"],
    }
    if os.environ.get("CACHE_URL")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # knox's, without sweeping the user's other tokens at every request.
        "core.api.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's JSON, written with orjson where the answer is plain values (core/api/renderers.py).
    "DEFAULT_RENDERER_CLASSES": [
        "core.api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "motorband.pagination.StudyPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Referenced deletes (409) and oversized bodies (413) in JSON with words, never a 500.
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "PAGE_SIZE": 50,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MotorBand API",
    "DESCRIPTION": "Multi-site ALS neuroimaging study: subjects, visits, scales, scans, motor band "
    "quantification, blinded reads, analyses and exports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from the installed sidecar package, so /api/docs/ works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Separate request and response components: read-only and write-only fields stay accurate.
    "COMPONENT_SPLIT_REQUEST": True,
    # One request content type per write operation (JSON; multipart for uploads), so that
    # generated clients import (core.api.schema.one_request_content_type).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.one_request_content_type",
    ],
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # One name for the study groups wherever they appear (subjects, exports, analysis filters).
    "ENUM_NAME_OVERRIDES": {
        "GroupEnum": "cohort.models.Group",
        # One enum for the twelve ALSFRS-R items' missing-data codes (q1_missing ... q12_missing).
        "AlsfrsMissingCodeEnum": "cohort.scales.ALSFRS_MISSING_CHOICES",
        "QcStatusEnum": "imaging.models.QcStatus",
        "RunStatusEnum": "imaging.models.RunStatus",
    },
}

# Task queue: without a broker, tasks run in-process (the embedded default of `make run`).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A queued or running export job whose worker reported nothing for this long is failed as stale.
MOTORBAND_JOB_STALE_SECONDS = int(os.environ.get("MOTORBAND_JOB_STALE_SECONDS", 15 * 60))

# Demo data extension points: each dotted path is called with (rng, study) after the clinical demo.
MOTORBAND_DEMO_EXTENSIONS: list[str] = ["imaging.demo.add_scans", "imaging.demo.add_reads"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# In development whitenoise serves straight from the app folders; production uses collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
