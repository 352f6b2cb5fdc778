#!/usr/bin/env bash
# gpugate's self-check before every job on a self-hosted GPU runner, shared
# by ci/github/job-started.sh and ci/gitlab/pre-build.sh. It fails the job
# (exit 1) before its steps when the machine cannot run TensorFlow on its
# GPUs, with the root cause and its fix first.
#
#   quick (default)  gpugate doctor: facts and diagnoses, no compute, about
#                    a second; one line on a healthy machine
#   full             also runs a compute suite (gpu-basic) once whenever the
#                    driver, the GPUs, the TensorFlow stack or the boot
#                    changed since the last run that passed it
#
# Environment:
#   GPUGATE_BIN          gpugate (default: the one on PATH)
#   GPUGATE_HOOK_MODE    quick or full
#   GPUGATE_HOOK_SUITE   full mode's suite (default gpu-basic)
#   GPUGATE_HOOK_STATE   where full mode remembers what passed
#                        (default ~/.cache/gpugate/runner-hook)
#   GPUGATE_DOCTOR_ARGS  more arguments for doctor, e.g. --for-tensorflow 2.20
#   GITHUB_STEP_SUMMARY  set by GitHub: a broken machine is told there too
set -uo pipefail

gpugate=${GPUGATE_BIN:-gpugate}
mode=${GPUGATE_HOOK_MODE:-quick}
suite=${GPUGATE_HOOK_SUITE:-gpu-basic}
state=${GPUGATE_HOOK_STATE:-${HOME:-/tmp}/.cache/gpugate/runner-hook}
read -r -a doctor_args <<< "${GPUGATE_DOCTOR_ARGS:-}"

say() { printf 'gpugate runner check: %s\n' "$*"; }

case "$mode" in
  quick | full) ;;
  *) say "GPUGATE_HOOK_MODE must be quick or full, not '$mode'" >&2; exit 2 ;;
esac
command -v "$gpugate" >/dev/null 2>&1 || {
  say "gpugate is not installed here ($gpugate); install it or set GPUGATE_BIN" >&2; exit 2; }

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

line=$("$gpugate" doctor --format condition "${doctor_args[@]}" 2>/dev/null)
rc=$?
case "$rc" in
  0) ;;
  101)
    report=$("$gpugate" doctor "${doctor_args[@]}" 2>&1)
    # The first error's block: its cause, fix and evidence.
    first=$(printf '%s\n' "$report" | awk '/^diagnosis \[.*\] \(error\)/ { on = 1 } on { print } on && /^  more:/ { exit }')
    broken "$line" "$first" "$report" ;;
  *) say "gpugate doctor could not judge this machine (exit $rc)" >&2; exit 2 ;;
esac

if [ "$mode" = quick ]; then
  say "$line"
  exit 0
fi

# Full mode: the compute suite runs once per state of what changes its
# verdict: the driver, CUDA and cuDNN found, the TensorFlow build, each
# GPU's UUID, and the boot.
metrics=$("$gpugate" doctor --format prometheus "${doctor_args[@]}" 2>/dev/null)
key=$( {
  cat /proc/sys/kernel/random/boot_id 2>/dev/null
  printf '%s\n' "$suite"
  printf '%s\n' "$metrics" | grep -E '^gpugate_(stack|gpu)_info\{'
} | sha256sum | cut -c1-32)
mkdir -p "$state" || { say "cannot create $state" >&2; exit 2; }
if [ "$(cat "$state/passed" 2>/dev/null)" = "$key" ]; then
  say "$line (the compute suite passed on this driver, GPUs, stack and boot)"
  exit 0
fi
say "the driver, the GPUs, the TensorFlow stack or the boot changed: running $suite once"
report="$state/$suite.xml"
if "$gpugate" --suite "$suite" --junit "$report"; then
  printf '%s\n' "$key" > "$state/passed.tmp" && mv "$state/passed.tmp" "$state/passed"
  say "$line ($suite passed)"
  exit 0
fi
rm -f "$state/passed"
broken "$suite failed on this machine" "the JUnit report: $report" "(the suite's output is above)"
