#!/usr/bin/env bash
# Runs the bench_rooms benchmark (tests/tests/bench_rooms.rs) against Synapse and against
# Flotilla on the same machine in the same run, so that the two sets of figures (issue #4) share
# the hardware and the load. Synapse comes from PyPI at a pinned version, on SQLite, with open
# registration and every rate limit raised far beyond what the benchmark can reach: what is
# measured is the server's work, not its throttling.
#
# Run from anywhere: bash tests/bench/synapse_side_by_side.sh
# Needs python3 (3.10 or later, with the venv module), cargo, and PyPI on first use. Everything it
# installs stays in the checkout (target/bench-synapse-venv, pip's cache inside it); Synapse's
# configuration, database and log live in a temporary directory that is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly SYNAPSE_VERSION=1.163.2
readonly VENV=target/bench-synapse-venv
readonly BENCH=(cargo test -p flotilla-tests --release --test bench_rooms -- --ignored --nocapture)

work_dir=$(mktemp -d)
synapse_pid=""

# Stops Synapse if it is still running and removes its files, whichever way the script ends.
cleanup() {
    if [ -n "$synapse_pid" ] && kill -0 "$synapse_pid" 2>/dev/null; then
        kill "$synapse_pid"
        wait "$synapse_pid" 2>/dev/null || true
    fi
    rm -rf "$work_dir"
}
trap cleanup EXIT

echo "== Synapse $SYNAPSE_VERSION in $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# Already satisfied (no network) after the first run.
PIP_CACHE_DIR="$VENV/pip-cache" "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "matrix-synapse==$SYNAPSE_VERSION"

echo "== building the benchmark"
# Built before Synapse starts, so that neither server shares the cores with the compiler.
cargo test -p flotilla-tests --release --test bench_rooms --no-run

# A port that was free a moment ago on 127.0.0.1.
port=$("$VENV/bin/python" -c \
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
secret() { "$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(32))'; }

# Generous enough that no limit is ever hit: per second and burst alike.
readonly UNLIMITED='{per_second: 1000000, burst_count: 1000000}'

cat >"$work_dir/log.yaml" <<EOF
# Warnings and errors only, to a file (shown if Synapse fails to start).
version: 1
formatters:
  plain:
    format: '%(asctime)s %(name)s %(levelname)s %(message)s'
handlers:
  file:
    class: logging.FileHandler
    filename: $work_dir/homeserver.log
    formatter: plain
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
EOF

cat >"$work_dir/homeserver.yaml" <<EOF
server_name: localhost
pid_file: $work_dir/homeserver.pid
# Client-Server API only: no federation or metrics listener.
listeners:
  - port: $port
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: $work_dir/homeserver.db
log_config: $work_dir/log.yaml
media_store_path: $work_dir/media
signing_key_path: $work_dir/signing.key
macaroon_secret_key: $(secret)
form_secret: $(secret)
report_stats: false
enable_metrics: false
# No other server is ever contacted.
federation_domain_whitelist: []
trusted_key_servers: []
suppress_key_server_warning: true
# The benchmark registers its clients with the m.login.dummy stage.
enable_registration: true
enable_registration_without_verification: true
rc_message: $UNLIMITED
rc_registration: $UNLIMITED
rc_registration_token_validity: $UNLIMITED
rc_login:
  address: $UNLIMITED
  account: $UNLIMITED
  failed_attempts: $UNLIMITED
rc_admin_redaction: $UNLIMITED
rc_joins:
  local: $UNLIMITED
  remote: $UNLIMITED
rc_joins_per_room: $UNLIMITED
rc_key_requests: $UNLIMITED
rc_3pid_validation: $UNLIMITED
rc_invites:
  per_room: $UNLIMITED
  per_user: $UNLIMITED
  per_issuer: $UNLIMITED
rc_third_party_invite: $UNLIMITED
rc_media_create: $UNLIMITED
rc_presence:
  per_user: $UNLIMITED
rc_delayed_event_mgmt: $UNLIMITED
rc_room_creation: $UNLIMITED
rc_reports: $UNLIMITED
rc_user_directory: $UNLIMITED
rc_profile: $UNLIMITED
EOF

# Writes the signing key the configuration names, then exits.
"$VENV/bin/python" -m synapse.app.homeserver --config-path "$work_dir/homeserver.yaml" \
    --generate-keys >/dev/null

echo "== starting Synapse on 127.0.0.1:$port"
"$VENV/bin/python" -m synapse.app.homeserver --config-path "$work_dir/homeserver.yaml" \
    >"$work_dir/stdout.log" 2>&1 &
synapse_pid=$!

# Ready once the Client-Server API answers; gives up after two minutes or if Synapse exits.
ready=false
for _ in $(seq 240); do
    if curl -sf "http://127.0.0.1:$port/_matrix/client/versions" >/dev/null; then
        ready=true
        break
    fi
    if ! kill -0 "$synapse_pid" 2>/dev/null; then
        break
    fi
    sleep 0.5
done
if [ "$ready" != true ]; then
    echo "Synapse did not start:" >&2
    tail -n 40 "$work_dir/stdout.log" "$work_dir/homeserver.log" >&2 || true
    exit 1
fi

echo "== bench_rooms against Synapse $SYNAPSE_VERSION"
FLOTILLA_BENCH_HOMESERVER="127.0.0.1:$port" "${BENCH[@]}" 2>&1 | tee "$work_dir/synapse.out"

# Stopped before Flotilla is measured, so that the two never share the cores.
kill "$synapse_pid"
wait "$synapse_pid" 2>/dev/null || true
synapse_pid=""

echo "== bench_rooms against Flotilla"
"${BENCH[@]}" 2>&1 | tee "$work_dir/flotilla.out"

echo "== side by side"
for server in synapse flotilla; do
    echo "-- $server"
    grep -E '^send ' "$work_dir/$server.out"
done
