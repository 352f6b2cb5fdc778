#!/usr/bin/env bash
# A fleet run: one gpugate Job per GPU node, each holding all of its node's
# GPUs only while it runs, then one Job that merges their reports.
#
#   fleet.sh render --image IMAGE --nodes NODE:GPUS[,NODE:GPUS...] [--run ID]
#       prints the manifests (for review, GitOps or kubectl apply -f -)
#   fleet.sh run --image IMAGE [--run ID]
#       lists the nodes labelled nvidia.com/gpu.present=true with kubectl,
#       applies a Job per node, waits for them, then merges the reports
#
# Needs reports.yaml applied once. README: "Use it from your pipeline".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd=${1:-}; [ -n "$cmd" ] || usage; shift
image="" nodes="" run=$(date -u +%Y%m%d%H%M)
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image=${2:?--image needs a value}; shift 2 ;;
    --nodes) nodes=${2:?--nodes needs a value}; shift 2 ;;
    --run) run=${2:?--run needs a value}; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$image" ] || { echo "fleet.sh: --image is required" >&2; exit 2; }
[[ "$run" =~ ^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$ ]] ||
  { echo "fleet.sh: --run must be up to 22 lowercase letters, digits and dashes" >&2; exit 2; }

# Fills a template's ${...} fields; values are checked first, so none can
# break out of its YAML scalar.
fill() {
  local file=$1 node=$2 gpus=$3 index=$4
  sed -e "s|\${RUN}|$run|g" -e "s|\${INDEX}|$index|g" -e "s|\${NODE}|$node|g" \
      -e "s|\${GPUS}|$gpus|g" -e "s|\${IMAGE}|$image|g" "$here/$file"
}

render() {
  [[ "$image" =~ ^[A-Za-z0-9./:@_-]+$ ]] || { echo "fleet.sh: odd characters in --image" >&2; exit 2; }
  local index=0 entry node gpus
  IFS=, read -r -a entries <<< "$nodes"
  [ "${#entries[@]}" -gt 0 ] || { echo "fleet.sh: no GPU nodes" >&2; exit 1; }
  for entry in "${entries[@]}"; do
    node=${entry%%:*} gpus=${entry##*:}
    [[ "$node" =~ ^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$ ]] || { echo "fleet.sh: bad node name '$node'" >&2; exit 2; }
    [[ "$gpus" =~ ^[1-9][0-9]{0,2}$ ]] || { echo "fleet.sh: node $node: bad GPU count '$gpus'" >&2; exit 2; }
    echo "---"
    fill node-job.yaml "$node" "$gpus" "$index"
    index=$((index + 1))
  done
}

case "$cmd" in
  render)
    [ -n "$nodes" ] || { echo "fleet.sh: render needs --nodes" >&2; exit 2; }
    render
    echo "---"
    fill merge-job.yaml "" "" ""
    ;;
  run)
    nodes=$(kubectl get nodes -l nvidia.com/gpu.present=true \
      -o jsonpath='{range .items[*]}{.metadata.name}:{.status.allocatable.nvidia\.com/gpu}{","}{end}')
    nodes=${nodes%,}
    render | kubectl apply -f -
    # Each Job completes or fails on its own within its activeDeadlineSeconds;
    # the merge shows a failed node as its column, so either ends the wait.
    for job in $(kubectl get jobs -n gpugate -l "gpugate/run=$run" -o name); do
      until kubectl get -n gpugate "$job" \
          -o jsonpath='{range .status.conditions[*]}{.type}={.status}{"\n"}{end}' |
          grep -Eq '^(Complete|Failed)=True$'; do
        sleep 10
      done
    done
    fill merge-job.yaml "" "" "" | kubectl apply -f -
    kubectl wait -n gpugate "job/gpugate-$run-merge" --for=condition=complete --timeout=10m
    kubectl logs -n gpugate "job/gpugate-$run-merge"
    ;;
  *) usage ;;
esac
