#!/usr/bin/env bash
# Installs the benchmark's peer servers' packages into ignored folders:
#   bench/peers/express/node_modules   (npm ci, from the committed package-lock.json)
#   bench/.work/drf-venv               (a venv with bench/peers/drf/requirements.txt)
# Safe to rerun; skips each step while its lock/requirements file is unchanged (hash stamps).
set -euo pipefail
cd "$(dirname "$0")"
peers=$(pwd)
work="$peers/../.work"
mkdir -p "$work"
work=$(cd "$work" && pwd)

say() { printf '== %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
hash_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# --- Express + jsonwebtoken ---------------------------------------------------------------
express="$peers/express"
stamp="$express/node_modules/.bench-install-stamp"
want=$(hash_of "$express/package.json" "$express/package-lock.json")
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the Express peer's npm packages"
  (cd "$express" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

# --- Django REST framework + simplejwt ---------------------------------------------------
venv="$work/drf-venv"
if [ ! -x "$venv/bin/python" ]; then
  say "creating the DRF peer's venv"
  python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; apt_install python3-venv; python3 -m venv "$venv"; }
fi
stamp="$venv/.bench-install-stamp"
want=$(hash_of "$peers/drf/requirements.txt")
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the DRF peer's Python packages"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$peers/drf/requirements.txt"
  echo "$want" >"$stamp"
fi
