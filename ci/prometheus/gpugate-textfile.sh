#!/usr/bin/env bash
# Writes gpugate doctor's verdict where node_exporter's textfile collector
# reads it, for the systemd timer beside this file (or cron). doctor runs
# while jobs may hold the GPUs: held GPUs are notes, never gpugate_healthy 0.
# When gpugate cannot judge (missing, crashed, hung, misconfigured) the file
# says so (gpugate_doctor_success 0, with the exit code) instead of keeping
# an old verdict or dropping the metrics.
#
# Environment (the service file sets them):
#   GPUGATE_BIN           gpugate (default /opt/gpugate/gpugate)
#   GPUGATE_TEXTFILE_DIR  node_exporter's --collector.textfile.directory
#                         (default Debian's and Ubuntu's:
#                         /var/lib/prometheus/node-exporter); it must exist
#   GPUGATE_TENSORFLOW    the release judged (default 2.20): pinned, so the
#                         check loads no TensorFlow and stays cheap
#   GPUGATE_TIMEOUT       seconds gpugate may take (default 60, at most 80:
#                         the service allows 90)
#   GPUGATE_DOCTOR_ARGS   more arguments for doctor
set -uo pipefail
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

bin=${GPUGATE_BIN:-/opt/gpugate/gpugate}
dir=${GPUGATE_TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}
tensorflow=${GPUGATE_TENSORFLOW:-2.20}
limit=${GPUGATE_TIMEOUT:-60}
read -r -a doctor_args <<< "${GPUGATE_DOCTOR_ARGS:-}"
file=$dir/gpugate.prom

say() { printf 'gpugate-textfile: %s\n' "$*" >&2; }
[ -d "$dir" ] || { say "$dir does not exist: node_exporter reads no metrics there (set GPUGATE_TEXTFILE_DIR to its --collector.textfile.directory)"; exit 2; }
# Where root writes, no one else may plant a file or a link.
read -r owner mode < <(stat -L -c '%u %a' "$dir")
{ [ "$owner" = 0 ] || [ "$owner" = "$(id -u)" ]; } && [ $((8#$mode & 8#022)) -eq 0 ] ||
  { say "$dir belongs to uid $owner with mode $mode: it must be this user's or root's and writable by no one else"; exit 2; }

# A setting that is wrong is no verdict either: the file says so.
rc=
if ! [[ "$limit" =~ ^[1-9][0-9]?$ ]] || [ "$limit" -gt 80 ]; then
  say "GPUGATE_TIMEOUT must be whole seconds from 1 to 80 (the service allows 90), not '$limit'"
  rc=2
else
  # timeout(1) signals gpugate's whole process group, then SIGKILLs it.
  timeout -k 5 "$limit" "$bin" doctor --moment while-jobs --format prometheus \
    --for-tensorflow "$tensorflow" --out "$file" "${doctor_args[@]}" 2>/dev/null
  rc=$?
fi
case "$rc" in
  0 | 101) exit 0 ;; # the file holds the verdict, healthy or not
esac

# No verdict: say so in the file, replaced whole (node_exporter reads only
# *.prom, so the temporary name is never scraped half-written).
tmp=$(mktemp "$dir/.gpugate.XXXXXX") || { say "cannot write in $dir"; exit 1; }
name=gpugate.prom
{
  echo "# HELP gpugate_doctor_success 1 when gpugate doctor judged this machine; 0 when gpugate crashed, hung or was misconfigured, so there is no verdict."
  echo "# TYPE gpugate_doctor_success gauge"
  echo "gpugate_doctor_success{file=\"$name\"} 0"
  echo "# HELP gpugate_doctor_exit_code The exit code of the gpugate doctor that gave no verdict (124 or 137: it did not finish in time)."
  echo "# TYPE gpugate_doctor_exit_code gauge"
  echo "gpugate_doctor_exit_code{file=\"$name\"} $rc"
  echo "# HELP gpugate_doctor_timestamp_seconds When gpugate doctor wrote this verdict (Unix time), so that a stale file can be alerted on."
  echo "# TYPE gpugate_doctor_timestamp_seconds gauge"
  echo "gpugate_doctor_timestamp_seconds{file=\"$name\"} $(date +%s)"
} > "$tmp" && chmod 0644 "$tmp" && mv -fT "$tmp" "$file" || { rm -f "$tmp"; say "cannot write $file"; exit 1; }
say "gpugate could not judge this machine (exit $rc); $file says so"
exit 1
