#!/usr/bin/env bash
# A self-hosted GitHub Actions runner's job-started hook: gpugate checks the
# machine before every job, and a broken machine fails the job before its
# steps, with the cause in the log and the job summary. In the runner's
# .env file (then restart the runner service):
#
#   ACTIONS_RUNNER_HOOK_JOB_STARTED=/opt/gpugate/ci/github/job-started.sh
#
# Settings: ci/runner-hook.sh (GPUGATE_HOOK_MODE=full, ...).
exec "$(dirname "$(readlink -f "$0")")/../runner-hook.sh" "$@"
