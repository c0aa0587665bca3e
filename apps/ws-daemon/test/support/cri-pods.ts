import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
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
