"""Settings of peer (b) of baton's benchmark: Django REST framework + djangorestframework-simplejwt.

A minimal production-style project: DEBUG off, Django's default password hasher (PBKDF2-SHA256 with
the iteration count this Django release ships), refresh tokens rotated and the old ones blacklisted,
SQLite in WAL mode at the path in DRF_DB. The signing key (SECRET_KEY, which simplejwt's HS256
uses by default) comes from DRF_SECRET_KEY: every gunicorn worker must see the same one, so
start-drf.sh makes a random one once and exports it.
"""
import os
from datetime import timedelta

SECRET_KEY = os.environ["DRF_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "peer.urls"
WSGI_APPLICATION = "peer.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DRF_DB"],
        "OPTIONS": {
            # Django 5.1+: run on every new connection; the journal mode is stored in the file.
            "init_command": "PRAGMA journal_mode=WAL;",
            # Django 5.1+, what Django's docs advise for SQLite under concurrent writers: take the
            # write lock when a transaction starts, so two workers wait for each other (up to the
            # default 5 s timeout) instead of failing with "database is locked".
            "transaction_mode": "IMMEDIATE",
        },
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
    ],
    # JSON only: the browsable API would need templates and static files.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
}

# Minimal logging: no access log (gunicorn's is off unless asked for), errors to standard error,
# and not the "Unauthorized: /api/me/" warning Django logs for every 4xx answer.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
