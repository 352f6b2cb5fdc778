#!/usr/bin/env bash
# gpugate's self-check before every job on a self-hosted GPU runner, shared
# by ci/github/job-started.sh and ci/gitlab/pre-build.sh. It fails the job
# (exit 1) before its steps when the machine cannot run TensorFlow on its
# GPUs, with the root cause and its fix first; it exits 2, and says why,
# when gpugate could not judge (missing, crashed, hung, misconfigured),
# which is no verdict on the machine.
#
#   quick (default)  gpugate doctor before a job: facts and diagnoses, no
#                    compute; one line on a healthy machine. GPUs held by
#                    processes are leftovers here, and errors.
#   full             also runs a compute suite (gpu-basic) once whenever
#                    what its verdict depends on changed since the last run
#                    that passed it (gpugate facts --format fingerprint: the
#                    TensorFlow that loads, the libraries, the driver, the
#                    GPUs, CUDA_VISIBLE_DEVICES/NVIDIA_VISIBLE_DEVICES, the
#                    boot)
#
# Environment:
#   GPUGATE_BIN           gpugate (default: the one on PATH)
#   GPUGATE_HOOK_MODE     quick or full
#   GPUGATE_HOOK_SUITE    full mode's suite (default gpu-basic)
#   GPUGATE_HOOK_TIMEOUT  seconds the whole check may take (default 120);
#                         gpugate is ended when they run out
#   GPUGATE_HOOK_STATE    where full mode remembers what passed (default
#                         gpugate's cache: ~/.cache/gpugate/runner-hook); it
#                         must belong to this user and be writable by no one
#                         else, as gpugate's cache must
#   GPUGATE_DOCTOR_ARGS   more arguments for doctor, e.g. --for-tensorflow 2.20
#   GITHUB_STEP_SUMMARY   set by GitHub: a broken machine is told there too
set -uo pipefail

gpugate=${GPUGATE_BIN:-gpugate}
mode=${GPUGATE_HOOK_MODE:-quick}
suite=${GPUGATE_HOOK_SUITE:-gpu-basic}
budget=${GPUGATE_HOOK_TIMEOUT:-120}
read -r -a doctor_args <<< "${GPUGATE_DOCTOR_ARGS:-}"

say() { printf 'gpugate runner check: %s\n' "$*"; }
# gpugate could not judge: the job is not failed for the machine's sake.
unknown() { say "gpugate could not judge this machine: $*" >&2; exit 2; }

case "$mode" in
  quick | full) ;;
  *) unknown "GPUGATE_HOOK_MODE must be quick or full, not '$mode'" ;;
esac
[[ "$budget" =~ ^[1-9][0-9]{0,4}$ ]] || unknown "GPUGATE_HOOK_TIMEOUT must be a number of seconds, not '$budget'"
command -v "$gpugate" >/dev/null 2>&1 || unknown "gpugate is not installed here ($gpugate); install it or set GPUGATE_BIN"

# Runs gpugate within what is left of the budget; timeout(1) signals its
# whole process group, then SIGKILLs it, so nothing is left behind.
bounded() {
  local left=$((budget - SECONDS))
  [ "$left" -gt 0 ] || return 124
  timeout -k 5 "$left" "$gpugate" "$@"
}
# Why gpugate gave no verdict, from its exit code alone.
why() {
  case "$1" in
    124 | 137) echo "gpugate did not finish within ${budget}s (GPUGATE_HOOK_TIMEOUT)" ;;
    70) echo "gpugate crashed (exit 70)" ;;
    2) echo "gpugate refused its arguments (exit 2)" ;;
    4) echo "the suite ran no check (exit 4)" ;;
    *) echo "gpugate exited $1" ;;
  esac
}

# Tells a broken machine where people look: the job log, and GitHub's job
# summary when the runner gives one. The cause and its fix lead; the whole
# report follows.
broken() {
  local line=$1 first=$2 report=$3
  say "this machine cannot run TensorFlow on its GPUs: $line"
  printf '%s\n\n%s\n' "$first" "$report"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    {
      printf '## gpugate: this runner cannot run TensorFlow on its GPUs\n\n'
      printf '**%s**\n\n```\n%s\n```\n\n' "$line" "$first"
      printf '<details><summary>the whole report</summary>\n\n```\n%s\n```\n</details>\n' "$report"
    } >> "$GITHUB_STEP_SUMMARY" 2>/dev/null || say "cannot write the job summary" >&2
  fi
  exit 1
}

line=$(bounded doctor --moment before-job --format condition "${doctor_args[@]}" 2>/dev/null)
rc=$?
case "$rc" in
  0) ;;
  101)
    report=$(bounded doctor --moment before-job "${doctor_args[@]}" 2>&1)
    # The first error's block: its cause, fix and evidence.
    first=$(printf '%s\n' "$report" | awk '/^diagnosis \[.*\] \(error\)/ { on = 1 } on { print } on && /^  more:/ { exit }')
    broken "$line" "$first" "$report" ;;
  *) unknown "$(why "$rc")" ;;
esac

if [ "$mode" = quick ]; then
  say "$line"
  exit 0
fi

# Full mode's memory is trusted as gpugate's cache is: this user's (or
# root's), and no one else may write it, so no one can plant a "passed".
if [ -n "${GPUGATE_HOOK_STATE:-}" ]; then
  state=$GPUGATE_HOOK_STATE
else
  home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
  [ -n "$home" ] || unknown "no HOME and no home directory for uid $(id -u): set GPUGATE_HOOK_STATE"
  state=${XDG_CACHE_HOME:-$home/.cache}/gpugate/runner-hook
fi
# A trailing slash would make a symbolic link look like the directory.
while [ "${state%/}" != "$state" ] && [ "$state" != / ]; do state=${state%/}; done
mkdir -p -m 0700 "$state" 2>/dev/null || unknown "cannot create $state"
trusted() { # PATH: ours or root's, not a symlink, writable by no one else
  local owner mode
  [ -e "$1" ] || return 0
  [ ! -L "$1" ] || return 1
  read -r owner mode < <(stat -c '%u %a' "$1") || return 1
  { [ "$owner" = "$(id -u)" ] || [ "$owner" = 0 ]; } && [ $((8#$mode & 8#022)) -eq 0 ]
}
for path in "$state" "$state/passed"; do
  trusted "$path" || unknown "$path belongs to someone else or others may write it; gpugate trusts no record there"
done

# The fingerprint is of what is installed: a release doctor was asked to
# judge (--for-tensorflow, --for-driver) is not what the suite will load.
facts_args=()
skip=0
for arg in "${doctor_args[@]}"; do
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  case "$arg" in
    --for-tensorflow | --for-driver) skip=1 ;;
    --for-tensorflow=* | --for-driver=*) ;;
    *) facts_args+=("$arg") ;;
  esac
done
key=$(bounded facts --format fingerprint "${facts_args[@]}" 2>/dev/null)
rc=$?
[ "$rc" -eq 0 ] && [[ "$key" =~ ^[0-9a-f]{64}$ ]] || unknown "$(why "$rc") while reading what the suite depends on"
key="$key $suite"
if [ "$(cat "$state/passed" 2>/dev/null)" = "$key" ]; then
  say "$line (the compute suite passed on this TensorFlow, driver, GPUs and boot)"
  exit 0
fi
say "TensorFlow, the driver, the GPUs or the boot changed: running $suite once"
report="$state/$suite.xml"
bounded --suite "$suite" --junit "$report"
rc=$?
case "$rc" in
  0)
    printf '%s\n' "$key" > "$state/passed.tmp" && mv "$state/passed.tmp" "$state/passed"
    say "$line ($suite passed)"
    exit 0 ;;
  101)
    rm -f "$state/passed"
    broken "$suite failed on this machine" "the JUnit report: $report" "(the suite's output is above)" ;;
  *) rm -f "$state/passed"; unknown "$(why "$rc") running $suite" ;;
esac
