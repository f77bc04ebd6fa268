"""changeflow settings: one module, driven by the environment.

Reading the environment here has no side effects beyond creating ``CHANGEFLOW_HOME`` when a
secret key has to be generated and kept there (see ``_secret_key``), or the default SQLite
database is to live there.
"""

import os
import secrets
import tempfile
from pathlib import Path
from typing import NoReturn

import dj_database_url
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
HOME = Path(os.environ.get("CHANGEFLOW_HOME", "var")).resolve()


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    key = os.environ.get("CHANGEFLOW_SECRET_KEY")
    if key:
        return key
    path = HOME / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        HOME.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        # O_EXCL: two processes starting at once must agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


DEBUG = _env_bool("DEBUG")
SECRET_KEY = _secret_key()
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_tasks_db",
    "changeflow.core",
    "changeflow.accounts",
    "changeflow.changes",
    "changeflow.requirements",
    "changeflow.ccb",
    "changeflow.impact",
    "changeflow.comms",
    "changeflow.meetings",
    "changeflow.notifications",
    "changeflow.reports",
    "changeflow.guide",
    "changeflow.cases",
    "changeflow.crtemplates",
    "changeflow.processes",
    "changeflow.orders",
    "changeflow.work",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "changeflow.core.middleware.AuditOriginMiddleware",
    "changeflow.core.middleware.StorageFailureMiddleware",
]

ROOT_URLCONF = "changeflow.urls"
WSGI_APPLICATION = "changeflow.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "changeflow.context_processors.nav",
            ],
        },
    }
]

DEFAULT_SQLITE = f"sqlite:///{HOME / 'changeflow.sqlite3'}"
if not os.environ.get("DATABASE_URL"):
    # Its folder, which a secret key given in the environment did not make: SQLite creates the
    # file, not the folder ("unable to open database file").
    HOME.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_SQLITE), conn_max_age=60, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout + IMMEDIATE transactions: concurrent writers queue for the lock at
    # BEGIN instead of failing with "database is locked" on the read-to-write upgrade.
    # Connections persist (CONN_MAX_AGE 60 as above) and SQLite's own page cache does the
    # caching, 16 MiB per connection, without mmap: with a new connection per request, every
    # request mapped the file afresh and page-faulted it in, and the threads of a worker fought
    # over the mappings (benchmarks/README.md: list p95 at concurrency 4 went 246 → 50 ms).
    # Writers queue on a lock of their own rather than on SQLite's busy-sleep (core/db/sqlite).
    DATABASES["default"]["ENGINE"] = "changeflow.core.db.sqlite"
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA cache_size=-16000;"
        ),
    }
    # Tests use a file, never ":memory:": threads (the race tests) must share the database, and
    # a shared-cache in-memory one answers "table is locked" at once instead of waiting. One
    # file per test process, so that two test runs in the same tree do not clobber each other.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("CHANGEFLOW_TEST_SQLITE")
        or str(Path(tempfile.gettempdir()) / f"changeflow-test-{os.getpid()}.sqlite3")
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# Local accounts first (no network: a site admin gets in while the directory is down), then the
# organisation's directory when CHANGEFLOW_LDAP_URL is set (accounts.backends).
AUTHENTICATION_BACKENDS = [
    "changeflow.accounts.backends.LocalBackend",
    "changeflow.accounts.backends.DirectoryBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "my-work"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["changeflow.formats"]
# Days the board has to ratify an emergency approval, unless the board sets its own.
CHANGEFLOW_RATIFICATION_DAYS = int(os.environ.get("CHANGEFLOW_RATIFICATION_DAYS", "5"))
USE_I18N = True
USE_TZ = True
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")

STATIC_URL = "/static/"
STATIC_ROOT = HOME / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = Path(os.environ.get("CHANGEFLOW_MEDIA_ROOT", HOME / "media"))


def object_storage() -> dict:
    """The default storage on an S3-compatible bucket (``CHANGEFLOW_S3_*``; README, "Object
    storage"). Objects are private: no ACL is sent (they have the bucket's, private), and no URL
    of the bucket is ever handed out: every file is served through changeflow's own
    permission-checked views. A setting that cannot work fails here, in one line."""
    from urllib.parse import urlsplit

    from django.core.exceptions import ImproperlyConfigured

    try:
        import storages.backends.s3  # noqa: F401
    except ImportError:
        raise ImproperlyConfigured(
            "CHANGEFLOW_S3_BUCKET is set but django-storages and boto3 are not installed "
            "(pip install 'changeflow[s3]')"
        ) from None
    env = {k: v.strip() for k, v in os.environ.items() if k.startswith("CHANGEFLOW_S3_")}
    options: dict = {
        "bucket_name": env["CHANGEFLOW_S3_BUCKET"],
        "location": env.get("CHANGEFLOW_S3_PREFIX", "").strip("/"),
        "default_acl": None,
        "querystring_auth": True,
        "custom_domain": None,
        "file_overwrite": False,
        # A file read back is buffered in memory up to this size, in a temporary file above it.
        "max_memory_size": FILE_UPLOAD_MAX_MEMORY_SIZE,
    }
    endpoint = env.get("CHANGEFLOW_S3_ENDPOINT_URL", "")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImproperlyConfigured(
                "CHANGEFLOW_S3_ENDPOINT_URL must be an http:// or https:// URL, got %r" % endpoint
            )
        options["endpoint_url"] = endpoint
    style = env.get("CHANGEFLOW_S3_ADDRESSING_STYLE", "").lower()
    if style and style not in ("path", "virtual", "auto"):
        raise ImproperlyConfigured(
            "CHANGEFLOW_S3_ADDRESSING_STYLE must be path, virtual or auto, got %r" % style
        )
    # Short connect timeouts and a few retries: a bucket that does not answer fails a request
    # (and /readyz) in seconds, not minutes.
    from botocore.config import Config

    options["client_config"] = Config(
        s3={"addressing_style": style or None},
        connect_timeout=5,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 3},
    )
    if env.get("CHANGEFLOW_S3_REGION"):
        options["region_name"] = env["CHANGEFLOW_S3_REGION"]
    # Unset: django-storages reads AWS_S3_ACCESS_KEY_ID / AWS_ACCESS_KEY_ID (and the secrets)
    # from the environment, then boto3 its own chain (profile, instance role...).
    key, secret = env.get("CHANGEFLOW_S3_ACCESS_KEY_ID"), env.get("CHANGEFLOW_S3_SECRET_ACCESS_KEY")
    if bool(key) != bool(secret):
        raise ImproperlyConfigured(
            "set both CHANGEFLOW_S3_ACCESS_KEY_ID and CHANGEFLOW_S3_SECRET_ACCESS_KEY, or neither"
        )
    if key:
        options.update(access_key=key, secret_key=secret)
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


def ldap_directory() -> dict | None:
    """Signing in with the organisation's directory, OpenLDAP or Active Directory
    (``CHANGEFLOW_LDAP_*``; README, "Signing in with LDAP or Active Directory"). None when
    ``CHANGEFLOW_LDAP_URL`` is unset: local accounts only. A setting that cannot work fails
    here, in one line naming it."""
    import re
    from urllib.parse import urlsplit

    from django.core.exceptions import ImproperlyConfigured

    env = {k: v.strip() for k, v in os.environ.items() if k.startswith("CHANGEFLOW_LDAP_")}
    url = env.get("CHANGEFLOW_LDAP_URL", "")
    if not url:
        return None
    try:
        import ldap3  # noqa: F401
        from ldap3.core.exceptions import LDAPInvalidDnError
        from ldap3.utils.dn import parse_dn
    except ImportError:
        raise ImproperlyConfigured(
            "CHANGEFLOW_LDAP_URL is set but ldap3 is not installed (pip install 'changeflow[ldap]')"
        ) from None

    def refuse(message: str) -> NoReturn:
        raise ImproperlyConfigured(message)

    bad_url = "CHANGEFLOW_LDAP_URL must be ldap://HOST[:PORT] or ldaps://HOST[:PORT], got %r" % url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        refuse(bad_url)
    host = parts.hostname or ""
    if parts.scheme not in ("ldap", "ldaps") or not host or parts.path not in ("", "/"):
        refuse(bad_url)

    def dn(name: str, *, required: bool = False) -> str:
        value = env.get(name, "")
        if not value:
            if required:
                refuse("%s must be set when CHANGEFLOW_LDAP_URL is" % name)
            return ""
        try:
            parse_dn(value)
        except LDAPInvalidDnError:
            refuse(
                "%s is not a distinguished name (like ou=people,dc=example,dc=com): %r"
                % (name, value)
            )
        return value

    bind_dn = dn("CHANGEFLOW_LDAP_BIND_DN")
    bind_password = os.environ.get("CHANGEFLOW_LDAP_BIND_PASSWORD", "")
    if bool(bind_dn) != bool(bind_password):
        refuse(
            "set both CHANGEFLOW_LDAP_BIND_DN and CHANGEFLOW_LDAP_BIND_PASSWORD, or neither "
            "(an anonymous search)"
        )
    user_filter = env.get("CHANGEFLOW_LDAP_USER_FILTER") or "(uid={username})"
    if (
        "{username}" not in user_filter
        or not (user_filter.startswith("(") and user_filter.endswith(")"))
        or user_filter.count("(") != user_filter.count(")")
    ):
        refuse(
            "CHANGEFLOW_LDAP_USER_FILTER must be an LDAP filter in parentheses with {username} in "
            "it, like (uid={username}) or (sAMAccountName={username}), got %r" % user_filter
        )
    attributes = {}
    for key, name, default in (
        ("name", "CHANGEFLOW_LDAP_NAME_ATTRIBUTE", "displayName"),
        ("email", "CHANGEFLOW_LDAP_EMAIL_ATTRIBUTE", "mail"),
    ):
        value = env.get(name) or default
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", value):
            refuse("%s must be an attribute name like %s, got %r" % (name, default, value))
        attributes[key] = value
    start_tls = _env_bool("CHANGEFLOW_LDAP_START_TLS")
    if start_tls and parts.scheme == "ldaps":
        refuse(
            "CHANGEFLOW_LDAP_START_TLS is for ldap:// URLs; an ldaps:// URL is encrypted already"
        )
    if parts.scheme == "ldaps" or start_tls:
        import ipaddress

        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:  # ldap3 matches a certificate's DNS names only: every connection would fail
            refuse(
                "CHANGEFLOW_LDAP_URL must name the host as its certificate does (a DNS name, "
                "not the address %s) when the connection is encrypted" % host
            )
    ca_file = env.get("CHANGEFLOW_LDAP_CA_FILE", "")
    if ca_file:
        if parts.scheme != "ldaps" and not start_tls:
            refuse(
                "CHANGEFLOW_LDAP_CA_FILE is set but nothing is encrypted: use an ldaps:// URL or "
                "CHANGEFLOW_LDAP_START_TLS=true"
            )
        if not os.access(ca_file, os.R_OK) or not os.path.isfile(ca_file):
            refuse("CHANGEFLOW_LDAP_CA_FILE cannot be read: %s" % ca_file)
    try:
        timeout = int(env.get("CHANGEFLOW_LDAP_TIMEOUT") or 5)
    except ValueError:
        timeout = 0
    if not 1 <= timeout <= 120:
        refuse(
            "CHANGEFLOW_LDAP_TIMEOUT must be a whole number of seconds from 1 to 120, got %r"
            % env.get("CHANGEFLOW_LDAP_TIMEOUT")
        )
    return {
        "url": "%s://%s%s"
        % (
            parts.scheme,
            "[%s]" % host if ":" in host else host,
            ":%d" % port if port else "",
        ),
        "bind_dn": bind_dn,
        "bind_password": bind_password,
        "search_base": dn("CHANGEFLOW_LDAP_SEARCH_BASE", required=True),
        "user_filter": user_filter,
        "name_attribute": attributes["name"],
        "email_attribute": attributes["email"],
        "start_tls": start_tls,
        "ca_file": ca_file,
        "timeout": timeout,
        "require_group": dn("CHANGEFLOW_LDAP_REQUIRE_GROUP"),
    }


# The organisation's directory for signing in (None: local accounts only).
CHANGEFLOW_LDAP = ldap_directory()

WHITENOISE_USE_FINDERS = DEBUG

# Uploads: the limit for one attachment, and Django's own request-body ceiling a little above it
# so that an oversized upload reaches our view and gets a clear 413.
ATTACHMENT_MAX_BYTES = int(os.environ.get("CHANGEFLOW_ATTACHMENT_MAX_BYTES", 20 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# How many change requests one bulk change (the list's bulk bar, the API, `cr bulk`) may touch.
CHANGEFLOW_BULK_MAX = int(os.environ.get("CHANGEFLOW_BULK_MAX", "200"))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Uploaded and generated files on an S3-compatible bucket instead of MEDIA_ROOT.
if os.environ.get("CHANGEFLOW_S3_BUCKET", "").strip():
    STORAGES["default"] = object_storage()

CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
        }
        if os.environ.get("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
    # The progress of background work (a change request import), written by the task worker
    # and read by the web's processes: it must be shared between processes, so Redis when
    # there is one, else files under CHANGEFLOW_HOME (a locmem cache is one process's own).
    "progress": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": "progress",
        }
        if os.environ.get("REDIS_URL")
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(HOME / "progress"),
        }
    ),
}

# Background tasks (``django.tasks``). The database backend is the embedded default: a single
# ``changeflow serve`` runs them in its own worker process. Larger installs may put them on
# Redis/RQ (``CHANGEFLOW_TASKS_BACKEND=rq`` and ``REDIS_URL``) and run ``changeflow worker``.
TASKS_BACKEND = os.environ.get("CHANGEFLOW_TASKS_BACKEND", "database").strip().lower()
if TASKS_BACKEND == "rq":
    INSTALLED_APPS.append("django_rq")
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {
        "default": {"URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")},
    }
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# A worker whose heartbeat is older than this (seconds) is dead: its running task runs again.
WORKER_DEAD_AFTER = int(os.environ.get("CHANGEFLOW_WORKER_DEAD_AFTER", 60))

# Outgoing mail (Django 6.1 MAILERS). Console by default: nothing leaves the machine until an
# SMTP server is named. CHANGEFLOW_SMTP_SECURITY is starttls (default), ssl or none.
CHANGEFLOW_MAIL_FROM = os.environ.get("CHANGEFLOW_MAIL_FROM", "changeflow@localhost")
DEFAULT_FROM_EMAIL = CHANGEFLOW_MAIL_FROM
SERVER_EMAIL = CHANGEFLOW_MAIL_FROM
if os.environ.get("CHANGEFLOW_SMTP_HOST"):
    _security = os.environ.get("CHANGEFLOW_SMTP_SECURITY", "starttls").strip().lower()
    _smtp_port = 465 if _security == "ssl" else 587
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": os.environ["CHANGEFLOW_SMTP_HOST"],
                "port": int(os.environ.get("CHANGEFLOW_SMTP_PORT", _smtp_port)),
                "username": os.environ.get("CHANGEFLOW_SMTP_USER", ""),
                "password": os.environ.get("CHANGEFLOW_SMTP_PASSWORD", ""),
                "use_tls": _security == "starttls",
                "use_ssl": _security == "ssl",
                "timeout": int(os.environ.get("CHANGEFLOW_SMTP_TIMEOUT", 30)),
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
# Inbound mail larger than this (bytes) is not parsed: it is kept in quarantine (IMAP: left on
# the server) and reported.
MAIL_MAX_BYTES = int(os.environ.get("CHANGEFLOW_MAIL_MAX_BYTES", 30 * 1024 * 1024))

# Notifications and webhooks (see the README). The public address of this server: the links in
# notifications, and what a webhook URL may not point back at.
CHANGEFLOW_BASE_URL = os.environ.get("CHANGEFLOW_BASE_URL", "")
CHANGEFLOW_MAIL_DOMAIN = os.environ.get("CHANGEFLOW_MAIL_DOMAIN", "changeflow.invalid")
CHANGEFLOW_WEBHOOK_TIMEOUT = float(os.environ.get("CHANGEFLOW_WEBHOOK_TIMEOUT", "10"))
CHANGEFLOW_WEBHOOK_ALLOW_PRIVATE = _env_bool("CHANGEFLOW_WEBHOOK_ALLOW_PRIVATE")
CHANGEFLOW_DELIVERY_MAX_ATTEMPTS = int(os.environ.get("CHANGEFLOW_DELIVERY_MAX_ATTEMPTS", "6"))
CHANGEFLOW_DELIVERY_BACKOFF_SECONDS = float(
    os.environ.get("CHANGEFLOW_DELIVERY_BACKOFF_SECONDS", "30")
)
CHANGEFLOW_DELIVERY_LEASE_SECONDS = int(os.environ.get("CHANGEFLOW_DELIVERY_LEASE_SECONDS", "300"))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "changeflow.accounts.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "changeflow.core.api.Pagination",
    "DEFAULT_METADATA_CLASS": "changeflow.core.api.Metadata",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "changeflow.core.api_schema.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "changeflow.core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"auth": os.environ.get("CHANGEFLOW_AUTH_RATE", "10/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "changeflow API",
    "DESCRIPTION": "Customer requirement change management — REST API v1",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: the docs work offline under SECURE_CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The docstrings of our own base classes (ApiView, StrictSerializer) describe them, not the
    # operations and components that inherit them: drf-spectacular skips them like DRF's.
    "GET_LIB_DOC_EXCLUDES": "changeflow.core.api_views.lib_doc_excludes",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "changeflow.core.api_views.document_shared_errors",
        "changeflow.core.api_links.add_links",
    ],
    "ENUM_NAME_OVERRIDES": {
        "PriorityEnum": "changeflow.changes.models.Priority",
        "AssessmentMethodEnum": "changeflow.changes.models.AssessmentMethod",
        "RequirementPriorityEnum": "changeflow.requirements.models.RequirementPriority",
        "KindEnum": "changeflow.requirements.models.Kind",
        "ArtifactKindEnum": "changeflow.requirements.models.ArtifactKind",
        "LinkKindEnum": "changeflow.requirements.models.LinkKind",
        "ChangeRequestLinkKindEnum": "changeflow.changes.models.LinkKind",
        "LinkDirectionEnum": [("out", "out"), ("in", "in")],
        "StateEnum": "changeflow.changes.workflow.State",
        "StatusEnum": "changeflow.requirements.models.RequirementStatus",
        "MeetingKindEnum": "changeflow.meetings.models.Kind",
        "OccurrenceStateEnum": "changeflow.meetings.models.OccurrenceState",
        "AttendanceStatusEnum": "changeflow.meetings.models.AttendanceStatus",
        "CalendarEntryKindEnum": "changeflow.meetings.serializers.CALENDAR_KINDS",
        "WebhookKindEnum": "changeflow.notifications.models.WebhookKind",
        "NotificationKindEnum": "changeflow.notifications.models.Kind",
        "DeliveryStateEnum": "changeflow.notifications.models.DeliveryState",
        "ChannelEnum": "changeflow.changes.models.Channel",
        "CommunicationChannelEnum": "changeflow.comms.models.LogChannel",
        "ResolutionEnum": "changeflow.requirements.changesets.RESOLUTIONS",
        "OutcomeEnum": "changeflow.meetings.models.Outcome",
        "CaseOutcomeEnum": "changeflow.cases.models.Outcome",
        "ImprovementStatusEnum": "changeflow.reports.models.ActionStatus",
        "ImprovementActionEnum": "changeflow.reports.actions.TRANSITION_NAMES",
        "ActionEnum": "changeflow.changes.workflow.ACTION_NAMES",
        "BulkOperationEnum": "changeflow.changes.bulk.OPERATION_NAMES",
        "CustomFieldKindEnum": "changeflow.crtemplates.models.FieldKind",
        "ReviewFrequencyEnum": "changeflow.reports.models.ReviewFrequency",
        "ReviewReportKindEnum": "changeflow.reports.models.ReportKind",
        "ProcessPartEnum": "changeflow.processes.definitions.PARTS",
        "ChangeOrderStateEnum": "changeflow.orders.models.OrderState",
    },
}

# Sign-in and e-signature attempts allowed per user and address in a window (seconds).
SIGNIN_MAX_FAILURES = int(os.environ.get("CHANGEFLOW_SIGNIN_MAX_FAILURES", 5))
SIGNIN_WINDOW_SECONDS = int(os.environ.get("CHANGEFLOW_SIGNIN_WINDOW", 300))

# The handler has the level too: Django's own loggers ("django", INFO) propagate to it whatever
# the root's level, and would print a line per background task started and finished.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "WARNING").strip().upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler", "level": LOG_LEVEL}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# Monte Carlo simulation (impact.plans): more iterations than this answer 422; a run of more
# than SIMULATION_SYNC_LIMIT cells (iterations x tasks) runs as a background task.
SIMULATION_MAX_ITERATIONS = int(os.environ.get("SIMULATION_MAX_ITERATIONS", "100000"))
SIMULATION_SYNC_LIMIT = int(os.environ.get("SIMULATION_SYNC_LIMIT", "2000000"))

# Change request imports (changes.io): a confirmed import of more rows than this runs as a
# background task (its page shows the progress); smaller ones answer at once.
CHANGEFLOW_CR_IMPORT_SYNC_ROWS = int(os.environ.get("CHANGEFLOW_CR_IMPORT_SYNC_ROWS", "100"))
