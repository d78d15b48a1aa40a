#!/usr/bin/env bash
# Usage: start-drf.sh PORT DBPATH
# Runs the Django REST framework + simplejwt peer in the foreground under gunicorn (2 sync workers)
# on 127.0.0.1:PORT with its SQLite database at DBPATH (run install.sh first). Applies the
# migrations first (creating DBPATH when missing), then execs gunicorn. Prints
# `listening on http://127.0.0.1:PORT` on standard output once both workers have loaded Django
# (see drf/gunicorn.conf.py); polling the port also works, since requests sent before then wait.
# DRF_SECRET_KEY may be set; otherwise a random one is made for this run (tokens from an earlier
# run are then refused).
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 PORT DBPATH" >&2; exit 2; fi
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/../.work/drf-venv"
if [ ! -x "$venv/bin/gunicorn" ]; then
  echo "$venv is missing: run $here/install.sh first" >&2
  exit 1
fi
port=$1
mkdir -p "$(dirname "$2")"
DRF_DB="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
export DRF_DB
if [ -z "${DRF_SECRET_KEY:-}" ]; then
  DRF_SECRET_KEY=$("$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))')
fi
export DRF_SECRET_KEY DJANGO_SETTINGS_MODULE=peer.settings PYTHONDONTWRITEBYTECODE=1
cd "$here/drf"
"$venv/bin/python" manage.py migrate --noinput -v 0
exec "$venv/bin/gunicorn" -c gunicorn.conf.py -w 2 -b "127.0.0.1:$port" peer.wsgi
