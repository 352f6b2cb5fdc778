#!/usr/bin/env bash
# Prints the manifests that run gpugate's Node Problem Detector plugin on
# every GPU node (npd.yaml, with the plugin's files in its ConfigMap):
#
#   npd.sh render --image GPUGATE_IMAGE --npd-image NPD_IMAGE
#
# then `| kubectl apply -f -`. README: "A node condition".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ "${1:-}" = render ] || usage; shift
image="" npd_image=""
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image=${2:?--image needs a value}; shift 2 ;;
    --npd-image) npd_image=${2:?--npd-image needs a value}; shift 2 ;;
    *) usage ;;
  esac
done
for value in "$image" "$npd_image"; do
  # Checked first, so no value can break out of its YAML scalar.
  [[ "$value" =~ ^[A-Za-z0-9./:@_-]+$ ]] || { echo "npd.sh: --image and --npd-image must be image references" >&2; exit 2; }
done

# A file as the body of a YAML block scalar under `data:` (four spaces).
indented() { sed 's/^/    /' "$here/$1"; }

while IFS= read -r line; do
  case "$line" in
    '${MONITOR_JSON}') indented gpugate-monitor.json ;;
    '${CHECK_SH}') indented gpugate-check.sh ;;
    *) line=${line//\$\{IMAGE\}/$image}; printf '%s\n' "${line//\$\{NPD_IMAGE\}/$npd_image}" ;;
  esac
done < "$here/npd.yaml"
