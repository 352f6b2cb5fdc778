#!/bin/sh
# Node Problem Detector's custom plugin for gpugate: doctor's verdict on this
# node while jobs may run (facts and diagnoses; no compute, no GPU held) as
# NPD's protocol wants it: exit 0 healthy, 1 a problem, 2 unknown (gpugate
# could not judge: missing, crashed, hung or misconfigured), and stdout is
# the condition's message, printed as doctor wrote it (at most 80 bytes).
#   GPUGATE_BIN        gpugate's path (default /gpugate/gpugate)
#   GPUGATE_TIMEOUT    seconds gpugate may take (default 50, at most 55:
#                      under the rule's 60 s timeout, so a hang is told as one)
#   GPUGATE_HOST_ROOT  where the host's /proc, /sys and /dev are mounted
# Arguments (the rule's "args") go to doctor: --for-tensorflow 2.20 pins the
# release judged, as gpugate-monitor.json does.
bin=${GPUGATE_BIN:-/gpugate/gpugate}
limit=${GPUGATE_TIMEOUT:-50}
# Whole seconds under the rule's 60: 0, inf or 1e3 would lift the bound.
case "$limit" in
  [1-9] | [1-4][0-9] | 5[0-5]) ;;
  *) printf 'unknown: GPUGATE_TIMEOUT must be 1 to 55 seconds\n'; exit 2 ;;
esac
# timeout(1) signals gpugate's whole process group, and SIGKILLs it 5 s
# later, so a hung gpugate is ended, not left behind.
line=$(timeout -k 5 "$limit" "$bin" doctor --moment while-jobs --format condition \
  --probe-timeout 20 "$@" 2>/dev/null)
rc=$?
case "$rc" in
  0) printf '%s\n' "$line"; exit 0 ;;
  101) printf '%s\n' "$line"; exit 1 ;;
  124 | 137) printf 'unknown: gpugate did not answer within %ss\n' "$limit" ;;
  70) printf 'unknown: gpugate crashed (exit 70)\n' ;;
  2) printf 'unknown: gpugate refused its arguments (exit 2)\n' ;;
  127 | 126) printf 'unknown: gpugate cannot be run here (%s)\n' "$bin" ;;
  *) printf 'unknown: gpugate could not judge this node (exit %s)\n' "$rc" ;;
esac
exit 2
