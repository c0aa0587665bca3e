/**
 * deploy/kubernetes: every manifest is valid for the Kubernetes API (schemas from the
 * kubernetes-models package, no network), and the DaemonSet, Service, NetworkPolicy, Secret
 * layout and the example workspace pod agree with what the daemon reads from its config.
 * There is no kubelet or API server on this machine; the CRI side runs for real in
 * test/server/cri-in-workspace.int.test.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { IDaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPod } from "kubernetes-models/v1/Pod";
import type { ISecret } from "kubernetes-models/v1/Secret";
import type { IService } from "kubernetes-models/v1/Service";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { configSchema, validateConfig } from "../../src/config/index.js";
import { LIVENESS_SERVICE } from "../../src/rpc/index.js";
import { type Manifest, schemaProblems, typeProblems } from "./k8s-schema.js";
import { DEPLOY, find, REPO, readManifests, readYaml } from "./manifests.js";

const manifests = readManifests();
const daemonSet = find(manifests, "DaemonSet").doc as unknown as IDaemonSet;
const podSpec = daemonSet.spec?.template.spec;
const container = podSpec?.containers.find((c) => c.name === "ws-daemon") as IContainer;
const configMap = find(manifests, "ConfigMap").doc as unknown as IConfigMap;
const configText = configMap.data?.["config.yaml"] ?? "";
/** The config the daemon runs with in the DaemonSet: the ConfigMap's file with the defaults. */
const config = validateConfig(parse(configText));
const defaults = configSchema.parse({});

const portNamed = (name: string) => container.ports?.find((p) => p.name === name)?.containerPort;
const mountAt = (mountPath: string) =>
  container.volumeMounts?.find((m) => m.mountPath === mountPath);
const volume = (name: string | undefined) => podSpec?.volumes?.find((v) => v.name === name);
/** The node path shown at `dir` inside the daemon's container (through a hostPath mount). */
function nodePathOf(dir: string): string | undefined {
  const mounts = [...(container.volumeMounts ?? [])].sort(
    (a, b) => b.mountPath.length - a.mountPath.length,
  );
  for (const m of mounts) {
    if (dir !== m.mountPath && !dir.startsWith(`${m.mountPath}/`)) continue;
    const host = volume(m.name)?.hostPath?.path;
    return host === undefined ? undefined : path.posix.join(host, dir.slice(m.mountPath.length));
  }
  return undefined;
}

describe("deploy/kubernetes is valid for the Kubernetes API", () => {
  it("every manifest passes the OpenAPI schema validators", () => {
    expect(manifests.map((m) => m.source)).toEqual([
      "configmap.yaml#0",
      "daemonset.yaml#0",
      "examples/tls-secret.yaml#0",
      "examples/workspace-pod.yaml#0",
      "namespace.yaml#0",
      "networkpolicy.yaml#0",
      "service.yaml#0",
      "serviceaccount.yaml#0",
    ]);
    expect(schemaProblems(manifests)).toEqual([]);
  });

  it("no manifest has a field the API does not define", () => {
    expect(typeProblems(manifests)).toEqual([]);
  }, 60_000);

  it("the two passes catch a wrong type, misspelt fields (deep ones too) and an unknown kind", () => {
    type Editable = { doc: { spec: { template: { spec: Record<string, unknown> } } } };
    const edited = (
      edit: (spec: Record<string, unknown>, first: Record<string, unknown>) => void,
    ) => {
      const copy = structuredClone(find(manifests, "DaemonSet")) as unknown as Editable;
      const spec = copy.doc.spec.template.spec;
      edit(spec, (spec.containers as Array<Record<string, unknown>>)[0] as Record<string, unknown>);
      return copy as unknown as Manifest;
    };
    const wrongType = edited((_, c) => {
      c.ports = [{ containerPort: "8080" }];
    });
    const misspelt = edited((spec) => {
      spec.hostPid = true;
    });
    const deepMisspelt = edited((_, c) => {
      c.volumeMounts = [
        { name: "working-area", mountPath: "/x", mountpropagation: "Bidirectional" },
      ];
    });
    const unknown = { source: "x.yaml#0", doc: { apiVersion: "example.com/v1", kind: "Widget" } };
    expect(schemaProblems([wrongType, misspelt, deepMisspelt, unknown])).toEqual([
      expect.stringMatching(/^daemonset\.yaml#0: .*containerPort must be integer/),
      "x.yaml#0: no schema for example.com/v1/Widget (add it to test/deploy/k8s-schema.ts)",
    ]);
    // The OpenAPI schemas allow unknown fields; the type check does not.
    expect(typeProblems([misspelt])).toEqual([
      expect.stringMatching(/^daemonset\.yaml#0: .*'"hostPid"' does not exist in type 'IPodSpec'/s),
    ]);
    expect(typeProblems([deepMisspelt])).toEqual([
      expect.stringMatching(
        /^daemonset\.yaml#0: .*'"mountpropagation"' does not exist in type 'IVolumeMount'/s,
      ),
    ]);
  }, 60_000);

  it("the kustomization names every manifest outside examples/, each existing", () => {
    const k = readYaml("kustomization.yaml");
    expect(k).toMatchObject({
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      namespace: "ws-daemon",
    });
    const known = ["apiVersion", "kind", "namespace", "labels", "resources", "images"];
    expect(Object.keys(k).filter((key) => !known.includes(key))).toEqual([]);
    const resources = k.resources as string[];
    for (const r of resources) expect(existsSync(path.join(DEPLOY, r)), r).toBe(true);
    const files = manifests
      .map((m) => m.source.replace(/#\d+$/, ""))
      .filter((f) => !f.startsWith("examples/"));
    expect([...resources].sort()).toEqual([...new Set(files)].sort());
    // Everything namespaced is in the kustomization's namespace (so a plain apply agrees too).
    for (const m of manifests.filter((x) => !x.source.startsWith("examples/workspace"))) {
      const meta = m.doc.metadata as { name?: string; namespace?: string };
      if (m.doc.kind !== "Namespace") expect(meta.namespace, m.source).toBe("ws-daemon");
    }
    expect((k.images as Array<{ name: string }>).map((i) => i.name)).toEqual([container.image]);
  });
});

describe("the DaemonSet agrees with the daemon's configuration", () => {
  it("runs the daemon with the ConfigMap's file, privileged in the node's pid namespace", () => {
    const configMount = mountAt("/etc/ws-daemon/config");
    expect(volume(configMount?.name)?.configMap?.name).toBe(configMap.metadata?.name);
    expect(container.args).toEqual(["--config", "/etc/ws-daemon/config/config.yaml"]);
    expect(Object.keys(configMap.data ?? {})).toEqual(["config.yaml"]);
    expect(podSpec?.hostPID).toBe(true);
    expect(container.securityContext?.privileged).toBe(true);
    expect(podSpec?.tolerations).toContainEqual({ operator: "Exists" });
    expect(container.resources?.requests).toMatchObject({ cpu: expect.any(String) });
    // kubelet waits this long after SIGTERM; the daemon lets running work finish in shutdownGraceMs.
    expect((podSpec?.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(
      config.shutdownGraceMs,
    );
  });

  it("exposes the ports the config listens on, which are the defaults", () => {
    // beyond loopback, authenticated: mutual TLS and never listen.insecure (issue 10)
    expect(config.listen).toEqual({ host: "0.0.0.0", port: defaults.listen.port, insecure: false });
    expect(config.tls?.clientCaFile).toBe("/etc/ws-daemon/tls/ca.crt");
    expect(portNamed("api")).toBe(config.listen.port);
    expect(config.metrics).toEqual({ ...defaults.metrics, host: "0.0.0.0" });
    expect(portNamed("metrics")).toBe(config.metrics.port);
    expect(config.health.probe).toEqual({
      ...defaults.health.probe,
      enabled: true,
      host: "0.0.0.0",
    });
    expect(portNamed("probe")).toBe(config.health.probe.port);
  });

  it("probes readiness and liveness with gRPC on the plaintext probe port", () => {
    expect(container.readinessProbe?.grpc).toEqual({ port: config.health.probe.port, service: "" });
    expect(container.livenessProbe?.grpc).toEqual({
      port: config.health.probe.port,
      service: LIVENESS_SERVICE,
    });
    // Liveness must not fail before readiness has had its say.
    expect(container.livenessProbe?.initialDelaySeconds ?? 0).toBeGreaterThanOrEqual(
      container.readinessProbe?.initialDelaySeconds ?? 0,
    );
  });

  it("mounts the working area at the same path as on the node, with Bidirectional propagation", () => {
    const mount = mountAt(config.workingArea);
    expect(mount?.mountPropagation).toBe("Bidirectional");
    expect(volume(mount?.name)?.hostPath).toEqual({
      path: config.workingArea,
      type: "DirectoryOrCreate",
    });
    expect(nodePathOf(config.workingArea)).toBe(config.workingArea);
  });

  it("shows the node's runtime socket where the config looks, by its directory", () => {
    expect(config.runtime).toMatchObject({ kind: "cri" });
    if (config.runtime.kind !== "cri") throw new Error("unreachable");
    expect(config.runtime.socketPath).toBe(
      (configSchema.shape.runtime.parse({ kind: "cri" }) as { socketPath: string }).socketPath,
    );
    const dir = path.posix.dirname(config.runtime.socketPath);
    expect(mountAt(dir)).toBeDefined();
    expect(volume(mountAt(dir)?.name)?.hostPath?.type).toBe("Directory");
    expect(nodePathOf(config.runtime.socketPath)).toBe(config.runtime.socketPath);
  });

  it("shows the node's cgroup hierarchy at /sys/fs/cgroup", () => {
    expect(nodePathOf("/sys/fs/cgroup")).toBe("/sys/fs/cgroup");
    expect(mountAt("/sys/fs/cgroup")?.mountPropagation).toBe("HostToContainer");
  });

  it("mounts the TLS Secret so that the config's files are its keys", () => {
    const tls = config.tls;
    if (!tls) throw new Error("the ConfigMap must configure TLS");
    const files = [tls.certFile, tls.keyFile, tls.clientCaFile];
    const mount = mountAt(path.posix.dirname(tls.certFile));
    const secretName = volume(mount?.name)?.secret?.secretName;
    expect(secretName).toBe("ws-daemon-tls");
    for (const f of files) expect(f && path.posix.dirname(f)).toBe(mount?.mountPath);
    const layout = find(manifests, "Secret", secretName).doc as unknown as ISecret;
    expect(layout.type).toBe("kubernetes.io/tls");
    expect(Object.keys(layout.stringData ?? {}).sort()).toEqual(
      files.map((f) => path.posix.basename(f ?? "")).sort(),
    );
  });
});

describe("the Service and the NetworkPolicy", () => {
  const podLabels = daemonSet.spec?.template.metadata?.labels ?? {};
  const selects = (selector: Record<string, string> | undefined) =>
    Object.entries(selector ?? {}).every(([k, v]) => podLabels[k] === v);

  it("the Service carries the content API to the daemon's api port", () => {
    const service = find(manifests, "Service").doc as unknown as IService;
    expect(selects(service.spec?.selector)).toBe(true);
    expect(service.spec?.ports).toEqual([
      expect.objectContaining({ port: config.listen.port, targetPort: "api", protocol: "TCP" }),
    ]);
  });

  it("the NetworkPolicy guards the daemon's pods and names only their ports", () => {
    const policy = find(manifests, "NetworkPolicy").doc as unknown as INetworkPolicy;
    expect(selects(policy.spec?.podSelector?.matchLabels)).toBe(true);
    expect(policy.spec?.policyTypes).toEqual(["Ingress"]);
    const ports = (policy.spec?.ingress ?? []).flatMap((r) => r.ports ?? []).map((p) => p.port);
    expect(ports).toEqual(["api", "metrics"]);
    for (const p of ports) expect(portNamed(String(p))).toBeDefined();
    // Every rule names who may connect; an empty `from` would let anyone in.
    for (const rule of policy.spec?.ingress ?? []) expect(rule.from?.length).toBeGreaterThan(0);
  });
});

describe("the example workspace pod", () => {
  const pod = find(manifests, "Pod").doc as unknown as IPod;
  const id = pod.metadata?.labels?.["ws-daemon.io/workspace-id"];

  it("carries what the daemon finds it by: the pod label and the container name", () => {
    if (config.runtime.kind !== "cri") throw new Error("the ConfigMap must use runtime.kind cri");
    expect(id).toBe("ws-example");
    expect(pod.metadata?.labels?.[config.runtime.podLabel]).toBe(id);
    expect(pod.spec?.containers.map((c) => c.name)).toContain(config.runtime.containerName);
  });

  it("mounts its daemon socket directory from the node at /.workspace", () => {
    const workspace = pod.spec?.containers.find((c) => c.name === "workspace");
    const mount = workspace?.volumeMounts?.find((m) => m.mountPath === "/.workspace");
    const source = pod.spec?.volumes?.find((v) => v.name === mount?.name)?.hostPath;
    expect(source).toEqual({
      path: `${nodePathOf(config.workingArea)}/.sockets/${id}`,
      type: "Directory",
    });
  });
});

describe("docs/kubernetes.md", () => {
  const doc = readFileSync(path.join(REPO, "docs", "kubernetes.md"), "utf8");
  const commands = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((m) => (m[1] ?? "").replace(/\\\n\s*/g, " ").split("\n"))
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));

  it("installs with the manifests tested here", () => {
    expect(commands).toContain("kubectl apply -k deploy/kubernetes");
    expect(commands).toContain("kubectl label node NODE ws-daemon.io/workspace-node=true");
    const affinity =
      podSpec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
        ?.nodeSelectorTerms[0]?.matchExpressions?.[0];
    expect(affinity).toEqual({
      key: "ws-daemon.io/workspace-node",
      operator: "In",
      values: ["true"],
    });
  });

  it("creates the TLS Secret with the name, namespace and keys the DaemonSet and config use", () => {
    const create = commands.find((c) => c.startsWith("kubectl create secret"));
    expect(create).toBeDefined();
    expect(create).toMatch(/^kubectl create secret generic ws-daemon-tls --namespace ws-daemon /);
    const layout = find(manifests, "Secret", "ws-daemon-tls").doc as unknown as ISecret;
    expect(create).toContain(` --type=${layout.type} `);
    const keys = [...(create ?? "").matchAll(/--from-file=([^=\s]+)=/g)].map((m) => m[1]);
    const tls = config.tls;
    expect(keys.sort()).toEqual(
      [tls?.certFile, tls?.keyFile, tls?.clientCaFile]
        .map((f) => path.posix.basename(f ?? ""))
        .sort(),
    );
  });

  it("names the workspace pod's requirements as the example pod and the config have them", () => {
    if (config.runtime.kind !== "cri") throw new Error("the ConfigMap must use runtime.kind cri");
    expect(doc).toContain(`\`${config.runtime.podLabel}\``);
    expect(doc).toContain(`\`${config.runtime.containerName}\``);
    expect(doc).toContain("`/.workspace`");
    expect(doc).toContain(`${config.workingArea}/.sockets/`);
    expect(commands).toContain("bash scripts/cri/ensure-containerd.sh --install");
  });
});
