# Throwaway PostgreSQL clusters for the tests (sourced by scripts/test).
#   pg_install            installs Debian's postgresql package when no server binaries exist
#   pg_start DIR          initialises and starts a cluster in DIR on a free port; prints its URL
#   pg_ctl_cmd DIR ACTION prints the command that runs `pg_ctl ACTION` on that cluster
#   pg_start_tls DIR      the same with TLS on, its certificate signed by a throwaway CA (DIR/root.crt)
#   pg_stop DIR           stops it

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

pg_install() {
  if [ -z "$(pg_bindir)" ]; then
    say "installing PostgreSQL (Debian package)"
    apt_install postgresql
  fi
}

# PostgreSQL refuses to run as root; run its tools as the postgres user then.
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pg_start() {
  local dir=$1 extra=${2:-} bin port
  bin=$(pg_bindir)
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
  pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
  port=$(free_port)
  echo "$port" >"$dir/port"
  pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 $extra" \
    start >/dev/null
  echo "postgres://postgres@127.0.0.1:$port/postgres"
}

pg_start_tls() {
  local dir=$1
  mkdir -p "$dir"
  # A throwaway certificate authority (DIR/root.crt, what clients trust) and the server's
  # certificate signed by it, for localhost and 127.0.0.1.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=baton test CA" \
    -keyout "$dir/root.key" -out "$dir/root.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/root.crt" -CAkey "$dir/root.key" \
    -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" >/dev/null 2>&1
  chmod 600 "$dir/server.key"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir/server.key" "$dir/server.crt"; fi
  pg_start "$dir" "-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
}

pg_ctl_cmd() {
  local dir=$1 action=$2 bin port prefix=""
  bin=$(pg_bindir)
  port=$(cat "$dir/port")
  if [ "$(id -u)" -eq 0 ]; then prefix="runuser -u postgres --"; fi
  case "$action" in
    stop) echo "$prefix $bin/pg_ctl -D $dir/data -m fast -w stop" ;;
    start) echo "$prefix $bin/pg_ctl -D $dir/data -l $dir/data/server.log -w -o '-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off' start" ;;
  esac
}

pg_stop() {
  local dir=$1
  [ -d "$dir/data" ] && pg_as_owner "$(pg_bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}
