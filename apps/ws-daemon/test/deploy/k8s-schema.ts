/**
 * Validation of Kubernetes manifests against the API's OpenAPI schemas as the npm package
 * kubernetes-models ships them (no network, no schema files of our own), in two passes:
 *   1. the package's validators (types, formats, required fields, enums of the OpenAPI schema);
 *   2. a TypeScript type check of each manifest against the package's generated interfaces,
 *      because the OpenAPI schemas allow unknown fields: a misspelt `hostPid` or
 *      `mountpropagation` passes pass 1 and would be silently dropped by the API server.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Pod } from "kubernetes-models/v1/Pod";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import ts from "typescript";

interface Validatable {
  validate(): void;
}

/** Every kind the manifests use: its model class and its interface's module and name. */
const KINDS: Record<
  string,
  { create: (data: unknown) => Validatable; module: string; type: string }
> = {
  "v1/ConfigMap": {
    create: (d) => new ConfigMap(d as ConstructorParameters<typeof ConfigMap>[0]),
    module: "kubernetes-models/v1/ConfigMap",
    type: "IConfigMap",
  },
  "v1/Namespace": {
    create: (d) => new Namespace(d as ConstructorParameters<typeof Namespace>[0]),
    module: "kubernetes-models/v1/Namespace",
    type: "INamespace",
  },
  "v1/Pod": {
    create: (d) => new Pod(d as ConstructorParameters<typeof Pod>[0]),
    module: "kubernetes-models/v1/Pod",
    type: "IPod",
  },
  "v1/Secret": {
    create: (d) => new Secret(d as ConstructorParameters<typeof Secret>[0]),
    module: "kubernetes-models/v1/Secret",
    type: "ISecret",
  },
  "v1/Service": {
    create: (d) => new Service(d as ConstructorParameters<typeof Service>[0]),
    module: "kubernetes-models/v1/Service",
    type: "IService",
  },
  "v1/ServiceAccount": {
    create: (d) => new ServiceAccount(d as ConstructorParameters<typeof ServiceAccount>[0]),
    module: "kubernetes-models/v1/ServiceAccount",
    type: "IServiceAccount",
  },
  "apps/v1/DaemonSet": {
    create: (d) => new DaemonSet(d as ConstructorParameters<typeof DaemonSet>[0]),
    module: "kubernetes-models/apps/v1/DaemonSet",
    type: "IDaemonSet",
  },
  "networking.k8s.io/v1/NetworkPolicy": {
    create: (d) => new NetworkPolicy(d as ConstructorParameters<typeof NetworkPolicy>[0]),
    module: "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
    type: "INetworkPolicy",
  },
};

export interface Manifest {
  /** e.g. "daemonset.yaml#0" */
  source: string;
  doc: Record<string, unknown>;
}

const kindKey = (doc: Record<string, unknown>) => `${String(doc.apiVersion)}/${String(doc.kind)}`;

/** Pass 1: the schema validators. One line per problem; empty when every manifest is valid. */
export function schemaProblems(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  for (const { source, doc } of manifests) {
    const kind = KINDS[kindKey(doc)];
    if (!kind) {
      problems.push(
        `${source}: no schema for ${kindKey(doc)} (add it to test/deploy/k8s-schema.ts)`,
      );
      continue;
    }
    try {
      kind.create(doc).validate();
    } catch (e) {
      problems.push(`${source}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return problems;
}

/** A directory inside the daemon's package, so that module resolution finds its node_modules. */
const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * Pass 2: each manifest as an object literal typed with its kind's interface, compiled in
 * memory; excess-property checks report every field the API does not define.
 */
export function typeProblems(manifests: readonly Manifest[]): string[] {
  const known = manifests.filter((m) => KINDS[kindKey(m.doc)]);
  const imports = [...new Set(known.map((m) => kindKey(m.doc)))].map((k) => {
    const kind = KINDS[k] as (typeof KINDS)[string];
    return `import type { ${kind.type} } from "${kind.module}";`;
  });
  const bodies = known.map((m, i) => {
    const kind = KINDS[kindKey(m.doc)] as (typeof KINDS)[string];
    return `// ${m.source}\nexport const m${i}: ${kind.type} = ${JSON.stringify(m.doc, null, 2)};`;
  });
  const fileName = path.join(HERE, "__manifests__.ts");
  const text = [...imports, ...bodies].join("\n");
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const original = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, onError, create) =>
    name === fileName
      ? ts.createSourceFile(name, text, language, true)
      : original(name, language, onError, create);
  const baseFileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || baseFileExists(name);
  const program = ts.createProgram({ rootNames: [fileName], options, host });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (!d.file || d.start === undefined) return message;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    // The nearest "// <source>" line above names the manifest.
    const lines = d.file.text.split("\n").slice(0, line + 1);
    const source =
      [...lines]
        .reverse()
        .find((l) => l.startsWith("// "))
        ?.slice(3) ?? "?";
    return `${source}: ${message}`;
  });
}
