// Validates Kubernetes manifests (multi-document YAML, from files or stdin) in two passes, each
// driven by data generated from the upstream Kubernetes OpenAPI spec:
//  1. schema: kubernetes-models' validators (Kubernetes 1.27 for the pinned version) check types,
//     enums, required fields and formats exactly as the schema states them;
//  2. strict: the schema allows unknown fields (the API server drops them silently), so a typo
//     such as `readOnlyRootFilesytem` would pass; every field name is looked up in the API
//     model field lists of @kubernetes/client-node (Kubernetes 1.32), as `kubeconform -strict`
//     or `kubectl --validate=strict` would.
//
//   node validate.mjs FILE... | -        exit 0: every document valid; 1: some invalid; 2: usage
//
// A document whose apiVersion/kind has no schema is an error, not a skip: a typo in `kind` must
// not pass unchecked.
import fs from "node:fs";
import { createRequire } from "node:module";
import yaml from "js-yaml";
import * as k8s from "@kubernetes/client-node";

const require = createRequire(import.meta.url);

// "apps/v1" + "DaemonSet" -> the model's module; the core group ("v1") has no group directory.
// The Prometheus Operator's kinds (components/prometheus) come from its CRDs' schemas.
const kCrdPackages = { "monitoring.coreos.com": "@kubernetes-models/prometheus-operator" };
function modelModule(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  if (!/^[A-Za-z0-9.\-/]+$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  const crdPackage = kCrdPackages[apiVersion.split("/")[0]];
  if (crdPackage) return `${crdPackage}/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

function loadModel(apiVersion, kind) {
  const name = modelModule(apiVersion, kind);
  if (!name) return null;
  try {
    return require(name)[kind] ?? null;
  } catch {
    return null;
  }
}

// "apps/v1" + "DaemonSet" -> client-node's model class name "V1DaemonSet".
function modelClassName(apiVersion, kind) {
  const version = String(apiVersion).split("/").pop();
  return version.charAt(0).toUpperCase() + version.slice(1) + kind;
}

// Appends "path: unknown field" for every key of `value` that model `type` does not have,
// descending into nested models, arrays and maps. Primitive values are pass 1's business.
function findUnknownFields(value, type, path, errors) {
  if (value === null || value === undefined) return;
  const array = type.match(/^Array<(.+)>$/);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => findUnknownFields(v, array[1], `${path}[${i}]`, errors));
    return;
  }
  const map = type.match(/^\{ \[key: string\]: (.+); \}$/);
  if (map) {
    for (const [k, v] of Object.entries(value)) findUnknownFields(v, map[1], `${path}.${k}`, errors);
    return;
  }
  const model = k8s[type];
  if (typeof model?.getAttributeTypeMap !== "function") return;
  if (typeof value !== "object" || Array.isArray(value)) return;
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) errors.push(`${path}.${k}: unknown field`);
    else findUnknownFields(v, fields.get(k), `${path}.${k}`, errors);
  }
}

function describe(doc) {
  const name = doc?.metadata?.name ?? "<no name>";
  return `${doc?.kind ?? "<no kind>"}/${name}`;
}

// Returns the error messages for one document (empty when valid).
function validateDocument(doc) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return ["document is not a mapping"];
  }
  const Model = loadModel(doc.apiVersion, doc.kind);
  if (!Model) return [`no schema for apiVersion '${doc.apiVersion}' kind '${doc.kind}'`];
  try {
    new Model(doc).validate();
  } catch (e) {
    return [e.message];
  }
  const errors = [];
  // @kubernetes/client-node has no field lists for custom resources: their schema pass is all
  // (it checks types, enums and required fields; unknown fields would pass).
  if (kCrdPackages[doc.apiVersion.split("/")[0]]) return errors;
  const className = modelClassName(doc.apiVersion, doc.kind);
  if (typeof k8s[className]?.getAttributeTypeMap !== "function") {
    return [`no field list for ${className} in @kubernetes/client-node`];
  }
  findUnknownFields(doc, className, "data", errors);
  return errors;
}

function readInput(path) {
  return path === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(path, "utf8");
}

function main(paths) {
  if (paths.length === 0) {
    console.error("usage: node validate.mjs FILE... (or - for stdin)");
    return 2;
  }
  let checked = 0;
  let invalid = 0;
  for (const path of paths) {
    let docs;
    try {
      docs = yaml.loadAll(readInput(path)).filter((d) => d !== null && d !== undefined);
    } catch (e) {
      console.error(`${path}: not YAML: ${e.message}`);
      invalid++;
      continue;
    }
    if (docs.length === 0) {
      console.error(`${path}: no documents`);
      invalid++;
    }
    for (const doc of docs) {
      checked++;
      const errors = validateDocument(doc);
      if (errors.length === 0) continue;
      invalid++;
      for (const error of errors) console.error(`${path}: ${describe(doc)}: ${error}`);
    }
  }
  console.log(`${checked - invalid} valid, ${invalid} invalid`);
  return invalid === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
