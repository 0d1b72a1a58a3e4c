#!/usr/bin/env bash
# What the deploy tests (ctest -L deploy) and scripts/build-image.sh need, with everything else
# the tests need: scripts/deps.txt is the one list (buildah, runc, debootstrap, systemd; Node.js
# with npm and kubectl with kustomize v4+, which the machine image brings and which are checked,
# not installed). Installs what is missing (as root) and runs the dependency check.
exec "$(dirname "$0")/bootstrap.sh" deps
