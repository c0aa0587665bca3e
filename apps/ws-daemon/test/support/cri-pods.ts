import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { parse } from "yaml";
import {
  type ContainerConfigSchema,
  MountPropagation,
  NamespaceMode,
  type PodSandboxConfigSchema,
} from "../../src/gen/cri/runtime/v1/api_pb.js";
import type { CriRuntimeClient } from "../../src/runtime/index.js";

/** kubelet's label keys on sandboxes and containers (pkg/kubelet/types/labels.go). */
export const KUBELET_LABELS = {
  podName: "io.kubernetes.pod.name",
  podNamespace: "io.kubernetes.pod.namespace",
  podUid: "io.kubernetes.pod.uid",
  containerName: "io.kubernetes.container.name",
} as const;

export interface WorkspacePodSpec {
  /** The pod's name and namespace (metadata). */
  name: string;
  namespace: string;
  /** The pod's labels: kubelet copies all of them onto the sandbox, none onto containers. */
  labels: Record<string, string>;
  /** Node directory holding the pods' logs, like /var/log/pods. */
  logRoot: string;
  container: {
    name: string;
    image: string;
    command: string[];
    /** hostPath volumes, as kubelet turns them into CRI mounts. */
    mounts: Array<{ containerPath: string; hostPath: string; readOnly?: boolean }>;
    memoryLimitBytes?: number;
  };
}

export interface WorkspacePod {
  readonly sandboxId: string;
  readonly uid: string;
  /** CreateContainer (not started: a pod whose container is still coming). */
  createContainer(): Promise<string>;
  startContainer(): Promise<void>;
  /** Stops and removes the container and the sandbox, as kubelet does at pod deletion. */
  remove(): Promise<void>;
}

/**
 * Runs a pod's sandbox the way kubelet does (RunPodSandbox with the pod's labels plus kubelet's
 * own, own network and pid namespaces per container), ready for its container. Everything
 * goes through the daemon's own CRI client.
 */
export async function runWorkspacePod(
  client: CriRuntimeClient,
  spec: WorkspacePodSpec,
): Promise<WorkspacePod> {
  const uid = randomUUID();
  const own = {
    [KUBELET_LABELS.podName]: spec.name,
    [KUBELET_LABELS.podNamespace]: spec.namespace,
    [KUBELET_LABELS.podUid]: uid,
  };
  const sandboxConfig = {
    metadata: { name: spec.name, namespace: spec.namespace, uid, attempt: 0 },
    hostname: spec.name,
    logDirectory: `${spec.logRoot}/${spec.namespace}_${spec.name}_${uid}`,
    dnsConfig: {},
    labels: { ...spec.labels, ...own },
    annotations: {},
    linux: {
      securityContext: {
        namespaceOptions: {
          network: NamespaceMode.POD,
          pid: NamespaceMode.CONTAINER,
          ipc: NamespaceMode.POD,
        },
      },
    },
  } satisfies MessageInitShape<typeof PodSandboxConfigSchema>;
  const { podSandboxId } = await client.runPodSandbox({ config: sandboxConfig });
  const c = spec.container;
  const containerConfig = {
    metadata: { name: c.name, attempt: 0 },
    image: { image: c.image },
    command: c.command,
    mounts: c.mounts.map((m) => ({
      containerPath: m.containerPath,
      hostPath: m.hostPath,
      readonly: m.readOnly ?? false,
      propagation: MountPropagation.PROPAGATION_PRIVATE,
    })),
    labels: { ...own, [KUBELET_LABELS.containerName]: c.name },
    annotations: { "io.kubernetes.container.restartCount": "0" },
    logPath: `${c.name}/0.log`,
    linux: {
      resources:
        c.memoryLimitBytes === undefined ? {} : { memoryLimitInBytes: BigInt(c.memoryLimitBytes) },
      securityContext: {
        namespaceOptions: {
          network: NamespaceMode.POD,
          pid: NamespaceMode.CONTAINER,
          ipc: NamespaceMode.POD,
        },
      },
    },
  } satisfies MessageInitShape<typeof ContainerConfigSchema>;
  let containerId: string | undefined;
  return {
    sandboxId: podSandboxId,
    uid,
    async createContainer() {
      const res = await client.createContainer({
        podSandboxId,
        config: containerConfig,
        sandboxConfig,
      });
      containerId = res.containerId;
      return containerId;
    },
    async startContainer() {
      if (containerId === undefined) throw new Error("createContainer first");
      await client.startContainer({ containerId });
    },
    async remove() {
      if (containerId !== undefined) {
        await client.stopContainer({ containerId, timeout: 0n }).catch(() => undefined);
        await client.removeContainer({ containerId }).catch(() => undefined);
      }
      await client.stopPodSandbox({ podSandboxId });
      await client.removePodSandbox({ podSandboxId });
    },
  };
}

const EXAMPLE_POD = fileURLToPath(
  new URL("../../../../deploy/kubernetes/examples/workspace-pod.yaml", import.meta.url),
);

interface ExamplePod {
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: {
    containers: Array<{ name: string; volumeMounts?: Array<{ name: string; mountPath: string }> }>;
    volumes: Array<{ name: string; hostPath?: { path: string } }>;
  };
}

/**
 * deploy/kubernetes/examples/workspace-pod.yaml (what docs/kubernetes.md tells users a
 * workspace pod must carry) for another workspace id, node working area and image: its labels,
 * its container's name and its hostPath mounts, as kubelet would hand them to the runtime.
 */
export function podFromExample(options: {
  workspaceId: string;
  /** The daemon's working area, standing in for the node path in the example. */
  workingArea: string;
  image: string;
  command: string[];
  logRoot: string;
  memoryLimitBytes?: number;
}): WorkspacePodSpec {
  const example = parse(readFileSync(EXAMPLE_POD, "utf8")) as ExamplePod;
  const exampleId = example.metadata.labels["ws-daemon.io/workspace-id"] ?? "";
  const swap = (text: string) => text.replaceAll(exampleId, options.workspaceId);
  const nodeArea = "/var/lib/ws-daemon/workspaces";
  const labels = Object.fromEntries(
    Object.entries(example.metadata.labels).map(([k, v]) => [k, swap(v)]),
  );
  const [container] = example.spec.containers;
  if (!container) throw new Error("the example pod has no container");
  const mounts = (container.volumeMounts ?? []).map((m) => {
    const hostPath = example.spec.volumes.find((v) => v.name === m.name)?.hostPath?.path;
    if (!hostPath?.startsWith(`${nodeArea}/`)) {
      throw new Error(`the example's volume ${m.name} is not a hostPath under ${nodeArea}`);
    }
    return {
      containerPath: m.mountPath,
      hostPath: swap(hostPath).replace(nodeArea, options.workingArea),
    };
  });
  return {
    name: swap(example.metadata.name),
    namespace: example.metadata.namespace,
    labels,
    logRoot: options.logRoot,
    container: {
      name: container.name,
      image: options.image,
      command: options.command,
      mounts,
      ...(options.memoryLimitBytes === undefined
        ? {}
        : { memoryLimitBytes: options.memoryLimitBytes }),
    },
  };
}
