// Validates Gateway API and Istio objects against their CRDs' OpenAPI schemas, using the
// @kubernetes-models packages (pinned in devenv/k8s.py, installed in the user's cache).
// Usage: node crd.mjs NODE_MODULES_DIR < objects.json  (a JSON array). One line per invalid
// object on stdout; exit 1 when any is invalid.
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { readFileSync } from "node:fs";

const MODELS = {
  "gateway.networking.k8s.io/v1/HTTPRoute": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute.js",
  "networking.istio.io/v1/VirtualService": "@kubernetes-models/istio/networking.istio.io/v1/VirtualService.js",
  "networking.istio.io/v1/DestinationRule": "@kubernetes-models/istio/networking.istio.io/v1/DestinationRule.js",
};

const modules = process.argv[2];
const objects = JSON.parse(readFileSync(0, "utf8"));
let invalid = 0;
for (const object of objects) {
  const id = `${object.kind}/${object.metadata?.name}`;
  const path = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!path) {
    console.log(`${id}: no CRD schema for ${object.apiVersion}`);
    invalid++;
    continue;
  }
  const exported = await import(pathToFileURL(join(modules, path)).href);
  const Model = exported[object.kind];
  try {
    new Model(object).validate();
  } catch (error) {
    console.log(`${id}: ${String(error.message).split("\n")[0]}`);
    invalid++;
  }
}
process.exit(invalid ? 1 : 0);
