#!/usr/bin/env bash
# Installs what the deploy tests (ctest -L deploy) and scripts/build-image.sh need on Debian 12,
# as root. Idempotent: installs only what is missing. The Kubernetes schema validator itself comes
# from the npm registry and is installed by the test into the build tree (pinned by
# tests/deploy/kube-validate/package-lock.json).
#
#   buildah, runc   build the image from deploy/Dockerfile; run it as an OCI container
#   debootstrap     make the Debian 12 base image from Debian's packages
#   kubectl         `kubectl kustomize` renders the manifests; needs kustomize v4 or later (kubectl
#                   1.21+). The machine image has one; Debian 12's kubernetes-client (1.20) is too
#                   old, so it is checked here, not installed.
#   nodejs, npm     run the schema validator
#   systemd         systemd-analyze verify/security for the unit
#   python3         the image test's checks of the replay output
set -euo pipefail

mapfile -t packages < <(sed 's/#.*//; /^[[:space:]]*$/d; s/[[:space:]]//g' \
                         "$(dirname "$0")/deploy-deps.txt")
packages+=(nodejs npm python3)

missing=()
for p in "${packages[@]}"; do
  case "${p}" in
    # Present as commands though perhaps not from Debian's package (e.g. Node.js from elsewhere).
    nodejs) command -v node >/dev/null || missing+=("${p}") ;;
    npm) command -v npm >/dev/null || missing+=("${p}") ;;
    python3) command -v python3 >/dev/null || missing+=("${p}") ;;
    *) dpkg-query -W -f='${Status}' "${p}" 2>/dev/null | grep -q "ok installed" || missing+=("${p}") ;;
  esac
done

if ((${#missing[@]})); then
  echo "deploy-deps: installing ${missing[*]}" >&2
  if [[ "$(id -u)" != 0 ]]; then
    echo "deploy-deps: need root to install: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! kubectl version --client 2>/dev/null | grep -qE 'Kustomize Version: v([4-9]|[1-9][0-9])'; then
  echo "deploy-deps: kubectl with kustomize v4+ not found (kubectl 1.21 or later is needed)" >&2
  exit 1
fi
echo "deploy-deps: ok" >&2
