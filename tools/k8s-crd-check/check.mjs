// Validate prometheus-operator objects against the schemas generated from its CRDs.
// Input: a JSON file (argument) holding an array of Kubernetes objects. Output: one finding per
// line, nothing when every object is valid.
import { readFileSync } from "node:fs";
import { ServiceMonitor, PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const KINDS = { ServiceMonitor, PodMonitor };
const docs = JSON.parse(readFileSync(process.argv[2], "utf8"));
let findings = 0;
docs.forEach((doc, i) => {
  const where = `doc ${i + 1} ${doc.kind}/${doc.metadata?.name ?? "?"}`;
  if (doc.apiVersion !== "monitoring.coreos.com/v1" || !(doc.kind in KINDS)) {
    console.log(`${where}: not a monitoring.coreos.com/v1 ServiceMonitor or PodMonitor`);
    findings++;
    return;
  }
  try {
    new KINDS[doc.kind](doc).validate();
  } catch (err) {
    console.log(`${where}: ${String(err.message ?? err).replace(/\s+/g, " ")}`);
    findings++;
  }
});
process.exit(findings ? 1 : 0);
