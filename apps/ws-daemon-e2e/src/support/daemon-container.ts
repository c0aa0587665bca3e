import { mkdtemp, readdir, rm } from "node:fs/promises";
import path from "node:path";
import {
  createDaemonClients,
  createDaemonTransport,
  type DaemonClients,
  type DaemonProtocol,
} from "@ws-daemon/api";
import {
  GenericContainer,
  type StartedNetwork,
  type StartedTestContainer,
  Wait,
} from "testcontainers";
import { inject } from "vitest";
import { fastDaemonHealthCheck } from "./containers.js";
import { e2eLabels } from "./labels.js";

/** The label the daemon's Docker runtime finds workspace containers by (its default). */
export const WORKSPACE_LABEL = "ws-daemon.workspace-id";

/**
 * GenericContainer plus the HostConfig fields testcontainers has no builder for: the host pid
 * namespace (the daemon resolves workspace pids through the host's /proc), a hard memory
 * limit and unmasked /proc (what a workspace runtime gives containers that nest user namespaces).
 */
export class TunedContainer extends GenericContainer {
  withHostPid(): this {
    this.hostConfig.PidMode = "host";
    return this;
  }

  withMemoryLimit(bytes: number): this {
    this.hostConfig.Memory = bytes;
    this.hostConfig.MemorySwap = bytes;
    return this;
  }

  withUnmaskedSystemPaths(): this {
    this.hostConfig.MaskedPaths = [];
    this.hostConfig.ReadonlyPaths = [];
    return this;
  }
}

const AREA_PREFIX = "ws-daemon-e2e-area-";

/**
 * A working area on the host, bind-mounted at the same path into daemon and workspaces. Under
 * /tmp directly (not os.tmpdir()): the Docker engine must see the same path as the test.
 */
export async function createWorkingArea(): Promise<string> {
  return mkdtemp(`/tmp/${AREA_PREFIX}`);
}

export async function removeWorkingArea(area: string | undefined): Promise<void> {
  if (area?.startsWith(`/tmp/${AREA_PREFIX}`)) await rm(area, { recursive: true, force: true });
}

/** Working areas a crashed run left behind (run before any test starts, and after the last). */
export async function removeStaleWorkingAreas(): Promise<string[]> {
  const stale = (await readdir("/tmp")).filter((name) => name.startsWith(AREA_PREFIX));
  for (const name of stale) await removeWorkingArea(`/tmp/${name}`);
  return stale;
}

export interface S3Settings {
  endpoint: string;
  bucket: string;
}

export interface DaemonOptions {
  image: string;
  workingArea: string;
  network?: StartedNetwork;
  alias?: string;
  s3?: S3Settings;
  extraArgs?: string[];
}

/** Where daemon containers find the run's certificates (the PKI directory, read-only). */
export const TLS_DIR = "/etc/ws-daemon/tls";

/** The image's documented way to serve the node API over mutual TLS with mounted certificates. */
export const mutualTlsEnvironment = {
  WSD_TLS__CERT_FILE: `${TLS_DIR}/test-server.crt`,
  WSD_TLS__KEY_FILE: `${TLS_DIR}/test-server.key`,
  WSD_TLS__CLIENT_CA_FILE: `${TLS_DIR}/test-ca.crt`,
};

/** TLS options of a client the daemons accept: the run's CA and its client certificate. */
export function trustedClientTls(): { ca: string; cert: string; key: string } {
  const pki = inject("pki");
  return { ca: pki.ca, cert: pki.client.cert, key: pki.client.key };
}

export function s3Args(s3: S3Settings): string[] {
  return [
    "--storage.kind=s3",
    `--storage.endpoint=${s3.endpoint}`,
    `--storage.bucket=${s3.bucket}`,
    "--storage.forcePathStyle=true",
    "--storage.createBucket=true",
    "--storage.accessKeyId=e2e",
    "--storage.secretAccessKey=e2e-secret",
  ];
}

/** A started daemon container and clients for its node API. */
export class RunningDaemon {
  constructor(
    readonly container: StartedTestContainer,
    readonly workingArea: string,
  ) {}

  /** Base URL of the node API as published on the host; changes after a restart. */
  address(): string {
    return `https://${this.hostPort()}`;
  }

  /** host:port of the node API as published on the host. */
  hostPort(): string {
    return `${this.container.getHost()}:${this.container.getMappedPort(8080)}`;
  }

  /** Clients over mutual TLS with the run's client certificate. */
  clients(protocol: DaemonProtocol = "grpc"): DaemonClients {
    return createDaemonClients(
      createDaemonTransport({
        address: this.address(),
        protocol,
        defaultTimeoutMs: 60_000,
        tls: trustedClientTls(),
      }),
    );
  }

  /** Host path of a workspace's in-workspace socket (same path inside the daemon). */
  socketPath(workspaceId: string): string {
    return path.join(this.socketDir(workspaceId), "daemon.sock");
  }

  socketDir(workspaceId: string): string {
    return path.join(this.workingArea, ".sockets", workspaceId);
  }

  contentDir(workspaceId: string): string {
    return path.join(this.workingArea, workspaceId);
  }
}

/**
 * Starts the daemon image the way a node would run it: privileged, in the host pid namespace,
 * with the Docker socket (workspace discovery) and the working area at its host path.
 */
export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  let builder = new TunedContainer(options.image)
    .withLabels(e2eLabels)
    .withPrivilegedMode()
    .withHostPid()
    .withBindMounts([
      { source: options.workingArea, target: options.workingArea, mode: "rw" },
      { source: "/var/run/docker.sock", target: "/var/run/docker.sock", mode: "rw" },
      // On cgroup v1 a container sees only its own subtree at /sys/fs/cgroup; the daemon reads
      // workspace cgroups by their host paths (/docker/<id>), so it needs the host's hierarchy.
      { source: "/sys/fs/cgroup", target: "/sys/fs/cgroup", mode: "rw" },
      { source: inject("pki").dir, target: TLS_DIR, mode: "ro" },
    ])
    .withEnvironment(mutualTlsEnvironment)
    .withCommand([
      `--workingArea=${options.workingArea}`,
      "--runtime.kind=docker",
      "--logLevel=debug",
      "--shutdownGraceMs=2000",
      // The download and git servers of the scenarios are containers on a Docker network (a
      // private address), which the default network policy refuses.
      "--downloads.allowPrivateNetworks=true",
      "--git.allowPrivateNetworks=true",
      ...(options.s3 ? s3Args(options.s3) : []),
      // E2E_STORAGE_FORMAT=chunked runs every scenario with the chunked archive format
      ...(process.env.E2E_STORAGE_FORMAT
        ? [`--storage.format=${process.env.E2E_STORAGE_FORMAT}`]
        : []),
      ...(options.extraArgs ?? []),
    ])
    .withExposedPorts(8080)
    .withHealthCheck(fastDaemonHealthCheck)
    .withWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(60_000);
  if (options.network) builder = builder.withNetwork(options.network);
  if (options.alias) builder = builder.withNetworkAliases(options.alias);
  const container = await builder.start();
  return new RunningDaemon(container, options.workingArea);
}
