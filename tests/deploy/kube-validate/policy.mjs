// The promises docs/deployment.md makes about mailtap's rendered manifests, checked on the
// rendered output of one kustomization (base, default, or default with components):
//
//   node policy.mjs VARIANT FILE        exit 0: all hold; 1: some broken (each one printed)
//
// VARIANT names what was rendered: "base", "default", or "default+COMPONENT+..." (kube_test.sh).
//
// The schema validator checks shapes; this checks what the shapes say: least privilege, probes,
// host networking, the socket hostPath, resources, rolling updates, the ConfigMap wiring.
import fs from "node:fs";
import yaml from "js-yaml";

const kAddedCapabilities = ["BPF", "NET_RAW", "PERFMON", "SETGID", "SETUID"];
const kSocketDir = "/run/mailtap";

const failures = [];
function check(condition, what) {
  if (!condition) failures.push(what);
}

function sameSet(a, b) {
  return Array.isArray(a) && a.length === b.length && [...a].sort().join() === [...b].sort().join();
}

// Parses `key=value` lines of a mailtapd config file (comments and blanks skipped).
function parseConf(text) {
  const conf = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^\s*([a-z-]+)\s*=\s*(.*?)\s*$/);
    if (m) conf[m[1]] = m[2];
  }
  return conf;
}

function hasComponent(variant, component) {
  return variant.split("+").includes(component);
}

// components/tls-plaintext: to find the mail server's TLS library the agent reads the
// /proc/PID/maps and /proc/PID/root of the node's mail-server processes, which needs the host's
// PID namespace and CAP_SYS_PTRACE (other users' processes). Only that component may add them.
function seesInsideTls(variant) {
  return hasComponent(variant, "tls-plaintext");
}

function checkSecurity(variant, sc) {
  const privileged = hasComponent(variant, "old-kernel");
  check(sc.privileged === privileged, `privileged must be ${privileged}`);
  // The API server rejects privileged together with allowPrivilegeEscalation: false.
  check(sc.allowPrivilegeEscalation === privileged,
        `allowPrivilegeEscalation must be ${privileged}`);
  check(sc.readOnlyRootFilesystem === true, "readOnlyRootFilesystem must be true");
  check(sameSet(sc.capabilities?.drop, ["ALL"]), "capabilities.drop must be [ALL]");
  const added = seesInsideTls(variant) ? [...kAddedCapabilities, "SYS_PTRACE"] : kAddedCapabilities;
  check(sameSet(sc.capabilities?.add, added),
        `capabilities.add must be exactly ${added.join(",")}`);
}

// Any other container (e.g. the metrics sidecar) gets no capability and no privilege at all.
function checkHelper(container) {
  const sc = container.securityContext ?? {};
  const name = container.name;
  check(sc.privileged === false && sc.allowPrivilegeEscalation === false,
        `${name}: must be unprivileged without escalation`);
  check(sc.readOnlyRootFilesystem === true, `${name}: readOnlyRootFilesystem must be true`);
  check(sameSet(sc.capabilities?.drop, ["ALL"]) && !(sc.capabilities?.add?.length),
        `${name}: must drop ALL capabilities and add none`);
  checkResources(container);
}

function checkProbes(container) {
  for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
    const command = container[probe]?.exec?.command ?? [];
    check(command.length > 0 && command[0].endsWith("/mailtap") && command.at(-1) === "status",
          `${probe} must run \`mailtap ... status\``);
    check(command.includes(`${kSocketDir}/mailtap.sock`), `${probe} must query the socket`);
  }
}

function checkResources(container) {
  const r = container.resources ?? {};
  for (const kind of ["requests", "limits"]) {
    check(r[kind]?.cpu !== undefined && r[kind]?.memory !== undefined,
          `resources.${kind} must set cpu and memory`);
  }
}

function checkVolumes(pod, container, configMaps) {
  const volumes = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
  const mounts = Object.fromEntries((container.volumeMounts ?? []).map((m) => [m.mountPath, m]));
  const run = mounts[kSocketDir];
  check(run && volumes[run.name]?.hostPath?.path === kSocketDir,
        `${kSocketDir} must be a hostPath mounted at ${kSocketDir}`);
  const configMount = mounts["/etc/mailtap"];
  const configMapName = configMount && volumes[configMount.name]?.configMap?.name;
  const configMap = configMaps.find((c) => c.metadata.name === configMapName);
  check(configMap !== undefined, "/etc/mailtap must mount a ConfigMap of this kustomization");
  check(configMount?.readOnly === true, "the config mount must be read-only");
  // The configuration is the ConfigMap; the one option allowed beside it is the metrics
  // listener of components/prometheus, on the node's own IP (never 0.0.0.0: every interface).
  const args = (container.args ?? []).filter(
      (a) => a !== "--metrics-address=$(MAILTAP_NODE_IP):9465");
  check(args.join(" ") === "--config /etc/mailtap/mailtapd.conf",
        "args must be --config /etc/mailtap/mailtapd.conf (and the prometheus component's " +
        "--metrics-address=$(MAILTAP_NODE_IP):9465)");
  const conf = parseConf(configMap?.data?.["mailtapd.conf"] ?? "");
  check(conf.events === "-", "events must go to stdout (events=-)");
  checkPrivacy(conf);
  check(conf.socket === `${kSocketDir}/mailtap.sock`, "socket must be in the hostPath");
  if (conf["log-dir"] !== undefined) {
    check(mounts[conf["log-dir"]] !== undefined, "log-dir must be a mounted volume");
  }
  return volumes;
}

// Private by default: container logs leave the node, so no message content may be in them. The
// content events (message lines, header values) are not selected at all (events-include, whose
// default is "protocol"); should they be, their text and smtp.log's header fields are redacted.
// AUTH credentials always are.
function checkPrivacy(conf) {
  const include = conf["events-include"] ?? "protocol";
  check(include === "protocol", `events must be the protocol events only (events-include=${include})`);
  check(conf.redact === "data", "message content must be redacted (redact=data)");
  check(conf["observe-data"] === undefined || conf["observe-data"] === "false",
        "message lines must not reach `mailtap observe` (observe-data)");
}

function checkDaemonSet(variant, ds, configMaps) {
  const pod = ds.spec.template.spec;
  check(pod.hostNetwork === true, "hostNetwork must be true");
  check(pod.dnsPolicy === "ClusterFirstWithHostNet", "dnsPolicy must be ClusterFirstWithHostNet");
  if (seesInsideTls(variant)) {
    check(pod.hostPID === true,
          "hostPID must be true with components/tls-plaintext (mail-server processes' /proc)");
  } else {
    check(!pod.hostPID, "hostPID must stay off (only components/tls-plaintext sets it)");
  }
  check(!pod.hostIPC, "hostIPC must stay off");
  check(pod.automountServiceAccountToken === false, "no service account token");
  check(pod.nodeSelector?.["mailtap/mail-host"] === "true", "nodeSelector mailtap/mail-host");
  check((pod.tolerations ?? []).some((t) => t.key === "mailtap/mail-host"),
        "must tolerate the mailtap/mail-host taint");
  check(ds.spec.updateStrategy?.type === "RollingUpdate", "updateStrategy must be RollingUpdate");
  check(pod.containers.length >= 1, "needs a container");
  const agent = pod.containers.find((c) => c.name === "mailtapd");
  check(agent !== undefined, "needs the mailtapd container");
  if (!agent) return;
  checkSecurity(variant, agent.securityContext ?? {});
  for (const other of pod.containers.filter((c) => c !== agent)) checkHelper(other);
  checkProbes(agent);
  checkResources(agent);
  checkVolumes(pod, agent, configMaps);
}

function main([variant, path]) {
  const docs = yaml.loadAll(fs.readFileSync(path, "utf8")).filter(Boolean);
  const daemonSets = docs.filter((d) => d.kind === "DaemonSet");
  const configMaps = docs.filter((d) => d.kind === "ConfigMap");
  check(daemonSets.length === 1, "exactly one DaemonSet");
  check(docs.some((d) => d.kind === "Namespace"), "a Namespace with its Pod Security level");
  if (daemonSets.length === 1) checkDaemonSet(variant, daemonSets[0], configMaps);
  for (const f of failures) console.error(`${variant}: ${f}`);
  if (failures.length === 0) console.log(`ok: ${variant}: least privilege, probes, wiring`);
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
