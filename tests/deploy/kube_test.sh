#!/usr/bin/env bash
# Kubernetes manifests: every kustomization under deploy/kubernetes renders with
# `kubectl kustomize`, every rendered document passes the Kubernetes schema validator, the
# validator really rejects broken documents, and the DaemonSet keeps its security promises.
#   kube_test.sh render|validator|policy
# shellcheck source=tests/deploy/lib.sh
source "$(dirname "$0")/lib.sh"

mode="${1:?usage: kube_test.sh render|validator|policy}"
kube_dir="${MAILTAP_SOURCE_DIR}/deploy/kubernetes"
tools="${MAILTAP_BINARY_DIR}/tests/deploy/kube-validate"

# Both packages come with the machine image, from outside Debian's archive (scripts/deps.txt).
need kubectl kubectl
need node nodejs
need npm nodejs

# The validator and its schemas come from the npm registry (versions pinned by package-lock.json),
# installed once into the build tree.
install_validator() {
  local src="${MAILTAP_SOURCE_DIR}/tests/deploy/kube-validate"
  mkdir -p "${tools}"
  cp "${src}/package.json" "${src}/package-lock.json" "${src}"/*.mjs "${tools}/"
  if [[ ! -f "${tools}/node_modules/.package-lock.json" ||
        "${src}/package-lock.json" -nt "${tools}/node_modules/.package-lock.json" ]]; then
    (cd "${tools}" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
      fail "npm ci of the schema validator failed (needs the npm registry)"
  fi
}

# Renders base and every overlay into OUT/<variant>.yaml; prints the variant names.
render_all() {
  local out="$1" dir name
  while IFS= read -r dir; do
    dir="$(dirname "${dir}")"
    name="${dir#"${kube_dir}/"}"
    name="${name//\//-}"
    kubectl kustomize "${dir}" >"${out}/${name}.yaml" || fail "kubectl kustomize ${dir} failed"
    echo "${name}"
  done < <(find "${kube_dir}" -name kustomization.yaml | sort)
}

install_validator
make_scratch
out="${SCRATCH}"
mapfile -t variants < <(render_all "${out}")
((${#variants[@]} >= 2)) || fail "expected the base and at least one overlay, found: ${variants[*]}"

case "${mode}" in
  render)
    for v in "${variants[@]}"; do
      node "${tools}/validate.mjs" "${out}/${v}.yaml" || fail "${v}: schema validation failed"
      grep -q "image: mailtap:${MAILTAP_VERSION}\$" "${out}/${v}.yaml" ||
        fail "${v}: image tag is not the project version ${MAILTAP_VERSION}"
      pass "${v}: renders, schema-valid, image mailtap:${MAILTAP_VERSION}"
    done
    ;;
  validator)
    base="${out}/base.yaml"
    node "${tools}/validate.mjs" "${base}" >/dev/null || fail "the unbroken base must validate"
    # Each edit breaks the schema in a different way; each must be rejected on its own.
    breaks=(
      's/hostNetwork: true/hostNetwork: "yes"/'                 # wrong type (boolean)
      's/^kind: DaemonSet$/kind: DaemonSett/'                    # kind without a schema
      's/failureThreshold: 30$/failureThreshold: thirty/'        # wrong type (integer)
      's/^        name: mailtapd$/        nam: mailtapd/'            # container loses required name
      's/type: RollingUpdate/type: Sometimes/'                   # not an enum value
      's/^\(  \)selector:$/\1selectr:/'                          # DaemonSet loses required selector
      's/readOnlyRootFilesystem: true/readOnlyRootFilesytem: true/' # misspelt field (strict pass)
      's/^\( *\)hostNetwork: true$/\1hostNetwork: true\n\1hostNetworking: true/'  # unknown field (strict pass)
    )
    for edit in "${breaks[@]}"; do
      sed "${edit}" "${base}" >"${out}/broken.yaml"
      cmp -s "${base}" "${out}/broken.yaml" && fail "edit '${edit}' changed nothing: fix the test"
      if node "${tools}/validate.mjs" "${out}/broken.yaml" 2>"${out}/err"; then
        fail "validator accepted a broken manifest (${edit})"
      fi
      pass "rejected (${edit}): $(head -n1 "${out}/err")"
    done
    ;;
  policy)
    for v in "${variants[@]}"; do
      node "${tools}/policy.mjs" "${v}" "${out}/${v}.yaml" || fail "${v}: policy check failed"
    done
    ;;
  *) fail "unknown mode ${mode}" ;;
esac
