#!/usr/bin/env bash
# Runs gpugate for the composite action (action.yml) and sets its outputs:
# verdict (a word from README's exit-code table), exit-code, report.
#
# Inputs come as environment variables, never spliced into the script:
# SUITES (whitespace-separated suite names or files), ARGS (extra arguments,
# whitespace-separated), REPORT_DIR, TENSORFLOW_VERSION, and MERGE: a glob of
# JUnit reports which, when set, are merged into one matrix (the job summary
# and REPORT_DIR/matrix.html) instead of running suites.
# Always exits 0: the action's last step fails the job, after the report has
# been uploaded.
set -uo pipefail

report_dir=${REPORT_DIR:-gpugate-reports}
mkdir -p "$report_dir"

run() {
  echo "+ $*"
  "$@" || rc=$?
}

rc=0
if [ -n "${MERGE:-}" ]; then
  # The glob is expanded here, by the shell, as the user wrote it.
  # shellcheck disable=SC2206
  reports=($MERGE)
  report="$report_dir/matrix.html"
  run gpugate report merge "${reports[@]}" --format html --out "$report"
  if [ "$rc" -eq 0 ] && [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    run gpugate report merge "${reports[@]}" --format markdown --out "$report_dir/matrix.md"
    cat "$report_dir/matrix.md" >> "$GITHUB_STEP_SUMMARY"
  fi
else
  report="$report_dir/gpugate.xml"
  cmd=(gpugate)
  read -r -a suites <<< "${SUITES:-gpu-basic}"
  for suite in "${suites[@]}"; do cmd+=(--suite "$suite"); done
  [ -n "${TENSORFLOW_VERSION:-}" ] && cmd+=(--tensorflow-version "$TENSORFLOW_VERSION")
  read -r -a extra <<< "${ARGS:-}"
  run "${cmd[@]}" --junit "$report" "${extra[@]}"
fi

# One arm per gpugate exit code (src/exit.rs; a test keeps them in step).
case "$rc" in
  0) verdict=passed ;;
  101) verdict=failed ;;
  2) verdict=usage ;;
  3) verdict=report-unwritable ;;
  4) verdict=nothing-ran ;;
  5) verdict=provision-failed ;;
  130) verdict=interrupted ;;
  143) verdict=terminated ;;
  129) verdict=hung-up ;;
  70) verdict=crashed ;;
  *) verdict=crashed ;;
esac

{
  echo "verdict=$verdict"
  echo "exit-code=$rc"
  echo "report=$report"
} >> "${GITHUB_OUTPUT:-/dev/stdout}"
echo "gpugate: $verdict (exit $rc); report: $report"
