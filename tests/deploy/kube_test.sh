#!/usr/bin/env bash
# Kubernetes manifests: the base, the top-level default and the default with every combination
# of the components render with `kubectl kustomize`; every rendered document passes the
# Kubernetes schema validator and runs only the tagged image; the validator really rejects broken
# documents; the DaemonSet keeps its security and privacy promises.
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

# Every subset of the components, one per line, as space-separated names ("" = none).
component_subsets() {
  local names=() mask i subset
  mapfile -t names < <(find "${kube_dir}/components" -mindepth 2 -maxdepth 2 \
                         -name kustomization.yaml -printf '%h\n' | xargs -n1 basename | sort)
  ((${#names[@]} >= 3)) || fail "expected at least 3 components, found: ${names[*]}"
  for ((mask = 0; mask < (1 << ${#names[@]}); mask++)); do
    subset=()
    for ((i = 0; i < ${#names[@]}; i++)); do
      ((mask & (1 << i))) && subset+=("${names[i]}")
    done
    echo "${subset[*]}"
  done
}

# Renders, into OUT/<variant>.yaml, the base alone ("base"), the top-level default ("default")
# and the default combined with every non-empty subset of the components ("default+a+b") through
# a kustomization written the way a user's own would be; prints the variant names.
render_all() {
  local out="$1" subset name dir rel component
  kubectl kustomize "${kube_dir}/base" >"${out}/base.yaml" || fail "kubectl kustomize base failed"
  echo base
  kubectl kustomize "${kube_dir}" >"${out}/default.yaml" ||
    fail "kubectl kustomize deploy/kubernetes failed"
  echo default
  while IFS= read -r subset; do
    [[ -n "${subset}" ]] || continue
    name="default+${subset// /+}"
    dir="${out}/site-${name//+/-}"
    mkdir -p "${dir}"
    rel="$(realpath --relative-to="${dir}" "${kube_dir}")"  # kustomize refuses absolute paths
    {
      printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n'
      printf 'resources:\n  - %s\ncomponents:\n' "${rel}"
      for component in ${subset}; do printf '  - %s/components/%s\n' "${rel}" "${component}"; done
    } >"${dir}/kustomization.yaml"
    kubectl kustomize "${dir}" >"${out}/${name}.yaml" || fail "${name}: kubectl kustomize failed"
    echo "${name}"
  done < <(component_subsets)
}

install_validator
make_scratch
out="${SCRATCH}"
mapfile -t variants < <(render_all "${out}")
((${#variants[@]} >= 9)) || fail "expected base, default and 7 combinations, found: ${variants[*]}"

# With components/prometheus, and only with it: the agent listens on its node's IP on the port
# the PodMonitor scrapes, and the PodMonitor selects the agent's pods (by labels they carry).
check_prometheus_component() {
  local v="$1" file="$2" listening monitors
  listening="$(grep -c -- '- --metrics-address=$(MAILTAP_NODE_IP):9465' "${file}" || true)"
  monitors="$(grep -c '^kind: PodMonitor$' "${file}" || true)"
  if [[ "${v}" != *prometheus* ]]; then
    [[ "${listening}${monitors}" == "00" ]] || fail "${v}: metrics listener without the component"
    return
  fi
  [[ "${listening}" == 1 && "${monitors}" == 1 ]] ||
    fail "${v}: want one --metrics-address argument and one PodMonitor, got ${listening}, ${monitors}"
  grep -q 'fieldPath: status.podIP' "${file}" || fail "${v}: MAILTAP_NODE_IP not from status.podIP"
  grep -A2 -- '- containerPort: 9465' "${file}" | grep -q 'name: metrics' ||
    fail "${v}: no container port 9465 named metrics"
  grep -A12 '^kind: PodMonitor$' "${file}" | grep -q 'namespace: mailtap' ||
    fail "${v}: the PodMonitor is not in the agent's namespace"
  grep -A30 '^kind: PodMonitor$' "${file}" | grep -q 'app.kubernetes.io/component: agent' ||
    fail "${v}: the PodMonitor does not select the agent's pods"
}

case "${mode}" in
  render)
    for v in "${variants[@]}"; do
      node "${tools}/validate.mjs" "${out}/${v}.yaml" || fail "${v}: schema validation failed"
      # Every container of every rendering runs the project version's image, tagged.
      images="$(grep -E '^ *(- )?image:' "${out}/${v}.yaml" | sed -E 's/^ *(- )?image: *//' |
                sort | uniq -c | awk '{print $2 " x" $1}' | paste -sd ' ')"
      [[ "${images}" =~ ^mailtap:${MAILTAP_VERSION}\ x[0-9]+$ ]] ||
        fail "${v}: images are '${images}', want only mailtap:${MAILTAP_VERSION}"
      check_prometheus_component "${v}" "${out}/${v}.yaml"
      pass "${v}: renders, schema-valid, image ${images}"
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
