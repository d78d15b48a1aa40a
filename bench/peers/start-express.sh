#!/usr/bin/env bash
# Usage: start-express.sh PORT
# Runs the Express + jsonwebtoken peer in the foreground on 127.0.0.1:PORT (run install.sh first).
# Prints `listening on http://127.0.0.1:PORT` on standard output once it accepts connections.
# State (users, refresh tokens) is in memory: each start begins empty. ACCESS_TOKEN_SECRET and
# REFRESH_TOKEN_SECRET may be set; otherwise the server makes random ones.
set -euo pipefail
if [ $# -ne 1 ]; then echo "usage: $0 PORT" >&2; exit 2; fi
dir="$(cd "$(dirname "$0")/express" && pwd)"
if [ ! -d "$dir/node_modules/jsonwebtoken" ]; then
  echo "$dir/node_modules is missing: run $(dirname "$0")/install.sh first" >&2
  exit 1
fi
cd "$dir"
export NODE_ENV=production PORT="$1"
exec node server.js
