#!/usr/bin/env bash
# Installs gpugate for the composite action (action.yml) and puts it on PATH.
#
#   install.sh key       prints the cache key of a build from the action's source
#   install.sh install   a release binary, or a build from the action's source
#
# A release binary is used when GPUGATE_VERSION names a release tag, or when
# the action itself was used at a release tag (uses: OWNER/gpugate@v1.2.0);
# otherwise gpugate is built from the action's own source with cargo, into a
# root that actions/cache keeps between runs (a self-hosted runner keeps it
# anyway). The binary is never built in the including repository.
set -euo pipefail

action_dir=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: run this from action.yml}
root=${GPUGATE_INSTALL_ROOT:-${RUNNER_TOOL_CACHE:-$HOME/.cache}/gpugate-action}
asset=gpugate-x86_64-unknown-linux-gnu.tar.gz

release_tag() {
  if [ -n "${GPUGATE_VERSION:-}" ]; then
    printf '%s\n' "$GPUGATE_VERSION"
  elif [[ "${ACTION_REF:-}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    printf '%s\n' "$ACTION_REF"
  fi
}

source_key() {
  # Everything cargo build reads, so a new commit of the action rebuilds.
  (cd "$action_dir" && find Cargo.toml Cargo.lock src suites docs/diagnoses.md -type f -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

case "${1:-}" in
  key)
    echo "key=gpugate-$(uname -m)-$(source_key)" >> "${GITHUB_OUTPUT:-/dev/stdout}"
    ;;
  install)
    tag=$(release_tag)
    mkdir -p "$root/bin"
    if [ -n "$tag" ]; then
      repo=${ACTION_REPOSITORY:?ACTION_REPOSITORY is not set}
      work=$(mktemp -d)
      trap 'rm -rf "$work"' EXIT
      if command -v gh >/dev/null; then
        gh release download "$tag" --repo "$repo" --dir "$work" --pattern "$asset" --pattern "$asset.sha256"
      else
        base="${GITHUB_SERVER_URL:?}/$repo/releases/download/$tag"
        curl -fsSL --retry 3 -o "$work/$asset" "$base/$asset"
        curl -fsSL --retry 3 -o "$work/$asset.sha256" "$base/$asset.sha256"
      fi
      (cd "$work" && sha256sum -c "$asset.sha256")
      tar -xzf "$work/$asset" -C "$root/bin" gpugate
      how="release $tag"
    elif [ -x "$root/bin/gpugate" ] && [ "$(cat "$root/source-key" 2>/dev/null)" = "$(source_key)" ]; then
      how="cached build of the action's source"
    else
      command -v cargo >/dev/null || {
        echo "::error title=gpugate::no release tag to download and no cargo to build the action's source; set gpugate-version to a release tag" >&2
        exit 1
      }
      cargo install --locked --path "$action_dir" --root "$root" --force
      source_key > "$root/source-key"
      how="built from the action's source"
    fi
    echo "$root/bin" >> "${GITHUB_PATH:-/dev/null}"
    echo "gpugate: $("$root/bin/gpugate" --version) ($how)"
    ;;
  *)
    echo "usage: install.sh key|install" >&2
    exit 2
    ;;
esac
