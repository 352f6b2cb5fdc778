#!/usr/bin/env bash
# A GitLab Runner's check before every job's script: gpugate checks the
# machine, and a broken one fails the job with the cause in its log. In the
# runner's config.toml, for a shell executor on the GPU machine:
#
#   [[runners]]
#     pre_build_script = "/opt/gpugate/ci/gitlab/pre-build.sh"
#
# Settings: ci/runner-hook.sh (GPUGATE_HOOK_MODE=full, ...).
exec "$(dirname "$(readlink -f "$0")")/../runner-hook.sh" "$@"
