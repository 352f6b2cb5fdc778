#!/usr/bin/env bash
# scrape.sh DIR PORT
# Run node_exporter (textfile collector only) on 127.0.0.1:PORT reading DIR,
# print /metrics to stdout, stop it, print its log to stderr.
# Env: NODE_EXPORTER=path to binary (default: prometheus-node-exporter, else node_exporter)
#      STARTUP_TIMEOUT=seconds to wait for it to answer (default 10)
# Exit: 0 ok, 2 usage, 3 binary missing / port busy, 4 never answered, 5 fetch failed
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 DIR PORT" >&2
  exit 2
fi
DIR=$1
PORT=$2
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-10}
BASE="http://127.0.0.1:${PORT}"
URL="$BASE/metrics"

BIN=${NODE_EXPORTER:-}
if [ -z "$BIN" ]; then
  BIN=$(command -v prometheus-node-exporter || command -v node_exporter || true)
fi
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "scrape.sh: node_exporter binary not found (set NODE_EXPORTER)" >&2
  exit 3
fi

# fetch URL [max-seconds] -> body on stdout, nonzero on any failure
fetch() {
  local url=$1 t=${2:-5}
  if command -v curl >/dev/null 2>&1; then
    curl -sS --fail --max-time "$t" "$url"
  else
    python3 - "$url" "$t" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])) as r:
        sys.stdout.buffer.write(r.read())
except Exception as e:
    print("fetch error: %s" % e, file=sys.stderr)
    sys.exit(1)
EOF
  fi
}

# Refuse to run if something already answers on the port (we'd scrape it instead).
if fetch "$BASE/" 1 >/dev/null 2>&1; then
  echo "scrape.sh: something already answers on $BASE" >&2
  exit 3
fi

LOG=$(mktemp "${TMPDIR:-/tmp}/scrape-log.XXXXXX")
OUTF=$(mktemp "${TMPDIR:-/tmp}/scrape-out.XXXXXX")
PID=

cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$PID" 2>/dev/null  # timeout(1) leads its own process group
  fi
  [ -n "$PID" ] && wait "$PID" 2>/dev/null
  PID=
  rm -f "$LOG" "$OUTF"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Hard upper bound on the exporter's lifetime, even if this script is SIGKILLed.
timeout -k 2 "$((STARTUP_TIMEOUT + 20))" "$BIN" \
  --web.listen-address="127.0.0.1:${PORT}" \
  --collector.disable-defaults \
  --collector.textfile \
  --collector.textfile.directory="$DIR" \
  --web.disable-exporter-metrics \
  </dev/null >"$LOG" 2>&1 &
PID=$!

up=0
died=0
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
deadline=$(( $(now_ms) + STARTUP_TIMEOUT * 1000 ))
while [ "$(now_ms)" -lt "$deadline" ]; do
  if ! kill -0 "$PID" 2>/dev/null; then died=1; break; fi  # exporter exited (bad flag, port busy...)
  # probe the landing page, not /metrics, so the textfile collector runs exactly once
  if fetch "$BASE/" 1 >/dev/null 2>&1; then up=1; break; fi
  sleep 0.1
done

rc=0
if [ "$died" -eq 1 ]; then
  echo "scrape.sh: node_exporter exited before answering on $BASE (log follows)" >&2
  rc=4
elif [ "$up" -ne 1 ]; then
  echo "scrape.sh: node_exporter did not answer on $BASE within ${STARTUP_TIMEOUT}s" >&2
  rc=4
elif fetch "$URL" 5 >"$OUTF"; then
  cat "$OUTF"
else
  echo "scrape.sh: fetching $URL failed" >&2
  rc=5
fi

# Stop the exporter, then show its log.
kill -TERM "$PID" 2>/dev/null
for _ in $(seq 1 20); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
kill -KILL -- "-$PID" 2>/dev/null  # whole group: timeout + exporter
wait "$PID" 2>/dev/null
PID=
cat "$LOG" >&2
exit "$rc"
