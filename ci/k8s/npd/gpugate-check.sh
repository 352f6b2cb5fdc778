#!/bin/sh
# Node Problem Detector's custom plugin for gpugate: doctor's verdict on this
# node (facts and diagnoses; no compute, no GPU held) as NPD's protocol wants
# it: exit 0 healthy, 1 a problem, 2 unknown (gpugate could not judge), and
# the first line of stdout is the condition's message ("ID: cause").
#   GPUGATE_BIN        gpugate's path (default /gpugate/gpugate)
#   GPUGATE_HOST_ROOT  where the host's /proc, /sys and /dev are mounted
# Arguments (the rule's "args") go to doctor, e.g. --for-tensorflow 2.20.
bin=${GPUGATE_BIN:-/gpugate/gpugate}
# Under NPD's own timeout (gpugate-monitor.json: 60 s): a hung NVML is
# gpugate's error, not NPD's timeout.
line=$("$bin" doctor --format condition --probe-timeout 20 "$@" 2>/dev/null)
rc=$?
case "$rc" in
  0) echo "$line"; exit 0 ;;
  101) echo "$line"; exit 1 ;;
  *) echo "unknown: gpugate could not judge this node (exit $rc)"; exit 2 ;;
esac
