import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import type { Manifest } from "./k8s-schema.js";

export const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
export const DEPLOY = path.join(REPO, "deploy", "kubernetes");

/** Every YAML document under deploy/kubernetes except the kustomization, with its file. */
export function readManifests(): Manifest[] {
  const files = readdirSync(DEPLOY, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".yaml") && path.basename(f) !== "kustomization.yaml")
    .sort();
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(DEPLOY, file), "utf8")).map((doc, i) => {
      if (doc.errors.length > 0) throw new Error(`${file}#${i}: ${doc.errors[0]?.message}`);
      return { source: `${file}#${i}`, doc: doc.toJS() as Record<string, unknown> };
    }),
  );
}

export function readYaml(file: string): Record<string, unknown> {
  const [doc, ...more] = parseAllDocuments(readFileSync(path.join(DEPLOY, file), "utf8"));
  if (!doc || more.length > 0) throw new Error(`${file}: expected one document`);
  return doc.toJS() as Record<string, unknown>;
}

/** The manifest of a kind (and name), failing clearly when there is none. */
export function find(manifests: readonly Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.find(
    (m) =>
      m.doc.kind === kind &&
      (name === undefined || (m.doc.metadata as { name?: string } | undefined)?.name === name),
  );
  if (!found) throw new Error(`no ${kind}${name ? ` named ${name}` : ""} under deploy/kubernetes`);
  return found;
}
