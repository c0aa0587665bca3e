import { z } from "zod";
import { compatSchema, idMappingSchema, initSchema } from "./compat-schema.js";
import { requireMutualTlsOffLoopback } from "./listen-policy.js";

const port = z.number().int().min(0).max(65535);

const tlsSchema = z
  .object({
    certFile: z.string().min(1).describe("Server certificate (PEM file)."),
    keyFile: z.string().min(1).describe("Server private key (PEM file)."),
    clientCaFile: z
      .string()
      .min(1)
      .optional()
      .describe("CA bundle that client certificates must chain to; set = mutual TLS required."),
  })
  .strict();

/** How new backups and snapshots are written; the same keys for every kind of storage. */
const archiveFormatFields = {
  format: z
    .enum(["tar-zstd", "chunked"])
    .optional()
    .describe(
      "What new backups and snapshots are written as: tar-zstd, one tar.zst object each (unset: the default), or chunked, deduplicated (apps/ws-daemon/docs/chunked-backups.md). Both are always readable.",
    ),
  dedupScope: z
    .enum(["owner", "store"])
    .optional()
    .describe(
      "format chunked: whose archives share chunks, one owner's (unset: the default) or the whole store's.",
    ),
  repackBelow: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe(
      "format chunked: a backup stores again the chunks of packs whose live share (bytes some published backup or snapshot names) is below this, so mostly dead packs stop being named and the janitor deletes them; 0 = never repack (unset: 0.5).",
    ),
  chunkerPath: z
    .string()
    .min(1)
    .optional()
    .describe(
      "format chunked: the native chunker binary (framed packs, faster); default $WSD_CHUNKER or native/build/wsd-chunker beside the daemon; without it the JavaScript chunker runs.",
    ),
};

const localStorage = z
  .object({
    kind: z.literal("local").describe("Backups in a local directory (the default kind)."),
    root: z
      .string()
      .min(1)
      .default("./.ws-daemon-data/storage")
      .describe("Directory holding backups and snapshots."),
    ...archiveFormatFields,
  })
  .strict();

const s3Storage = z
  .object({
    kind: z.literal("s3").describe("Backups in an S3-compatible bucket."),
    endpoint: z
      .string()
      .url()
      .optional()
      .describe("S3-compatible endpoint URL; unset = AWS for the region."),
    region: z.string().min(1).default("us-east-1").describe("Region of the bucket."),
    bucket: z.string().min(3).describe("Bucket holding backups and snapshots (required)."),
    forcePathStyle: z
      .boolean()
      .default(false)
      .describe("Path-style URLs (http://host/bucket/key), as MinIO, Ceph and moto want."),
    accessKeyId: z
      .string()
      .optional()
      .describe("Leave unset to use the standard AWS credential chain (AWS_ACCESS_KEY_ID, ...)."),
    secretAccessKey: z.string().optional().describe("Secret of accessKeyId."),
    createBucket: z.boolean().default(false).describe("Create the bucket at start if missing."),
    ...archiveFormatFields,
  })
  .strict();

const processRuntime = z
  .object({
    kind: z
      .literal("process")
      .describe("Workspaces are process trees named by root pid (the default kind)."),
    workspaces: z
      .record(z.string(), z.number().int().positive())
      .default({})
      .describe("Workspace id -> root pid of its process tree, for bare hosts and tests."),
  })
  .strict();

const dockerRuntime = z
  .object({
    kind: z.literal("docker").describe("Workspaces are Docker containers found by label."),
    socketPath: z
      .string()
      .min(1)
      .default("/var/run/docker.sock")
      .describe("The Docker Engine API socket."),
    label: z
      .string()
      .min(1)
      .default("ws-daemon.workspace-id")
      .describe("Container label whose value is the workspace id."),
    waitForContainerMs: z
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe(
        "An in-workspace call waits at most this long for a container that is not running yet (less when the call's deadline is nearer), as upstream waits for the container; 0 = no waiting.",
      ),
  })
  .strict();

const criRuntime = z
  .object({
    kind: z
      .literal("cri")
      .describe(
        "Workspaces are Kubernetes pods, found through the node's CRI v1 runtime (containerd, CRI-O).",
      ),
    socketPath: z
      .string()
      .min(1)
      .default("/run/containerd/containerd.sock")
      .describe("The CRI runtime's socket (CRI-O: /var/run/crio/crio.sock)."),
    podLabel: z
      .string()
      .min(1)
      .default("ws-daemon.io/workspace-id")
      .describe(
        "Pod label whose value is the workspace id (kubelet copies pod labels onto the pod sandbox).",
      ),
    containerName: z
      .string()
      .min(1)
      .default("workspace")
      .describe("Name of the workspace's container in the pod."),
    waitForContainerMs: z
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe(
        "An in-workspace call waits at most this long for a container that is not running yet (less when the call's deadline is nearer); 0 = no waiting.",
      ),
  })
  .strict();

const healthProbe = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        "Serve grpc.health.v1.Health alone on a plaintext port of its own, for kubelet's gRPC probes (which speak no TLS) when the node API requires mutual TLS.",
      ),
    host: z.string().min(1).default("127.0.0.1").describe("Address of the probe listener."),
    port: port.default(9501).describe("Port of the probe listener."),
  })
  .strict();

const GIB = 1024 * 1024 * 1024;

const health = z
  .object({
    checkIntervalMs: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .describe(
        "How often readiness is re-checked: the runtime answers, the working area is writable and has minFreeBytes free.",
      ),
    minFreeBytes: z
      .number()
      .int()
      .min(0)
      .default(GIB)
      .describe(
        "Below this much free space in the working area the daemon reports NOT_SERVING and refuses InitWorkspace with RESOURCE_EXHAUSTED; 0 = no threshold.",
      ),
    probe: healthProbe.default({ enabled: false, host: "127.0.0.1", port: 9501 }),
  })
  .strict();

const MINUTE_MS = 60_000;

const TRANSPORT_LIMIT_DEFAULTS = {
  readMaxBytes: 4 * 1024 * 1024,
  maxConnections: 1024,
  maxConcurrentStreams: 100,
  idleTimeoutMs: 2 * MINUTE_MS,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: MINUTE_MS,
};

/** Limits of every API listener (node API and workspace sockets): see proto/README.md. */
const transportLimitsShape = {
  readMaxBytes: z
    .number()
    .int()
    .min(1024)
    .max(2 ** 31 - 1)
    .default(TRANSPORT_LIMIT_DEFAULTS.readMaxBytes)
    .describe(
      "Largest request message (bytes), also after decompression; a larger one is RESOURCE_EXHAUSTED.",
    ),
  maxConnections: z
    .number()
    .int()
    .min(1)
    .default(TRANSPORT_LIMIT_DEFAULTS.maxConnections)
    .describe("Open connections to the node API at once; more are closed as they arrive."),
  maxConcurrentStreams: z
    .number()
    .int()
    .min(1)
    .default(TRANSPORT_LIMIT_DEFAULTS.maxConcurrentStreams)
    .describe(
      "Calls at once on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused with REFUSED_STREAM.",
    ),
  idleTimeoutMs: z
    .number()
    .int()
    .min(100)
    .default(TRANSPORT_LIMIT_DEFAULTS.idleTimeoutMs)
    .describe(
      "An HTTP/2 connection without an open call for this long is closed (GOAWAY); HTTP/1.1 keeps idle connections at most 5 s.",
    ),
  headersTimeoutMs: z
    .number()
    .int()
    .min(100)
    .default(TRANSPORT_LIMIT_DEFAULTS.headersTimeoutMs)
    .describe(
      "A new connection must show its protocol, finish the HTTP/2 handshake or send its HTTP/1.1 request headers within this long, else it is closed.",
    ),
  requestTimeoutMs: z
    .number()
    .int()
    .min(100)
    .default(TRANSPORT_LIMIT_DEFAULTS.requestTimeoutMs)
    .describe(
      "A whole HTTP/1.1 request (else 408 and closed), or the body of a unary gRPC call on HTTP/2 (else RESOURCE_EXHAUSTED), must arrive within this long.",
    ),
};

const IN_WORKSPACE_LIMIT_DEFAULTS = {
  maxConnections: 64,
  maxInFlightCalls: 16,
  mutatingCallBurst: 20,
  mutatingCallRefillMs: 250,
};

/** What one workspace may ask of its socket. */
const inWorkspaceLimits = z
  .object({
    maxConnections: z
      .number()
      .int()
      .min(1)
      .default(IN_WORKSPACE_LIMIT_DEFAULTS.maxConnections)
      .describe("Open connections to one workspace's socket at once; more are closed."),
    maxInFlightCalls: z
      .number()
      .int()
      .min(1)
      .default(IN_WORKSPACE_LIMIT_DEFAULTS.maxInFlightCalls)
      .describe("Calls running at once on one workspace's socket; one more is RESOURCE_EXHAUSTED."),
    mutatingCallBurst: z
      .number()
      .int()
      .min(1)
      .default(IN_WORKSPACE_LIMIT_DEFAULTS.mutatingCallBurst)
      .describe(
        "Token bucket shared by a workspace's MountProc, UmountProc, MountSysfs, UmountSysfs, MountNfs, UmountNfs and SetupPairVeths calls: this many at once, then RESOURCE_EXHAUSTED until tokens return.",
      ),
    mutatingCallRefillMs: z
      .number()
      .int()
      .min(1)
      .default(IN_WORKSPACE_LIMIT_DEFAULTS.mutatingCallRefillMs)
      .describe("One token returns to that bucket every this many milliseconds."),
  })
  .strict()
  .default(IN_WORKSPACE_LIMIT_DEFAULTS);

/** Shared by backups (refused beyond them) and restores (refused beyond them): see src/archive. */
const archiveSchema = z
  .object({
    maxEntryBytes: z
      .number()
      .int()
      .min(1)
      .default(64 * GIB)
      .describe(
        "Largest file a backup or snapshot may hold, by its size with holes: a tree with a larger one is refused at backup time (the previous backup stays), an archive with one at restore.",
      ),
    maxTotalBytes: z
      .number()
      .int()
      .min(1)
      .default(1024 * GIB)
      .describe(
        "Most content bytes one archive may hold (holes of sparse files not counted); beyond it a backup is refused, and so is a restore.",
      ),
    maxEntries: z
      .number()
      .int()
      .min(1)
      .default(10_000_000)
      .describe(
        "Most entries (files, directories, links) one archive may hold; beyond it a backup is refused, and so is a restore.",
      ),
    maxPathBytes: z
      .number()
      .int()
      .min(255)
      .max(4000)
      .default(3072)
      .describe(
        "Longest path inside a workspace an archive may hold (bytes); leaves room under the kernel's 4095 for the restore target's own path.",
      ),
    deadlineBaseMs: z
      .number()
      .int()
      .min(1)
      .default(10 * MINUTE_MS)
      .describe(
        "A backup or snapshot is abandoned (DEADLINE_EXCEEDED; the previous one stays) after this long plus deadlineMsPerGib per GiB it has begun to archive. A restore of a chunked archive likewise, per GiB of the archive (the target is left empty).",
      ),
    deadlineMsPerGib: z
      .number()
      .int()
      .min(0)
      .default(2 * MINUTE_MS)
      .describe("What each GiB of archive adds to deadlineBaseMs."),
    keepSetid: z
      .boolean()
      .default(false)
      .describe(
        "Restore setuid/setgid bits of files as archived; by default restores strip them (workspace content need not be on a nosuid mount).",
      ),
  })
  .strict()
  .default({
    maxEntryBytes: 64 * GIB,
    maxTotalBytes: 1024 * GIB,
    maxEntries: 10_000_000,
    maxPathBytes: 3072,
    deadlineBaseMs: 10 * MINUTE_MS,
    deadlineMsPerGib: 2 * MINUTE_MS,
    keepSetid: false,
  });

const identityList = (service: string) =>
  z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe(
      `Client identities allowed to call ${service}: each entry matches a certificate's subject alternative name (DNS or URI) or its subject CN. Unset = every client certificate the client CA signed; a valid certificate not on the list gets PERMISSION_DENIED. Needs tls.clientCaFile.`,
    );

const authSchema = z
  .object({
    allowedClients: z
      .object({
        content: identityList("WorkspaceContentService"),
        health: identityList("grpc.health.v1.Health on the node API"),
        reflection: identityList("gRPC server reflection on the node API"),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({ allowedClients: {} });

export const configSchema = z
  .object({
    workingArea: z
      .string()
      .min(1)
      .default("./.ws-daemon-data/workspaces")
      .describe(
        "Workspace content lives at <workingArea>/<id>, sockets at <workingArea>/.sockets/<id>/daemon.sock (see compat.socketLayout).",
      ),
    listen: z
      .object({
        host: z
          .string()
          .min(1)
          .default("127.0.0.1")
          .describe(
            "Address the node API listens on. Any address but loopback requires mutual TLS (tls.certFile, tls.keyFile, tls.clientCaFile) unless listen.insecure is set.",
          ),
        port: port.default(8080).describe("Port of the node API (gRPC, gRPC-Web, Connect)."),
        insecure: z
          .boolean()
          .default(false)
          .describe(
            "Serve the node API on a non-loopback address without mutual TLS: anyone who reaches the port is the trusted caller of the content API. Logged as a warning at start and every hour.",
          ),
      })
      .strict()
      .default({ host: "127.0.0.1", port: 8080, insecure: false }),
    tls: tlsSchema.optional(),
    auth: authSchema,
    metrics: z
      .object({
        enabled: z.boolean().default(true).describe("Serve Prometheus metrics at /metrics."),
        host: z.string().min(1).default("127.0.0.1").describe("Address of the metrics server."),
        port: port.default(9500).describe("Port of the metrics server."),
      })
      .strict()
      .default({ enabled: true, host: "127.0.0.1", port: 9500 }),
    storage: z.discriminatedUnion("kind", [localStorage, s3Storage]).default({
      kind: "local",
      root: "./.ws-daemon-data/storage",
    }),
    runtime: z.discriminatedUnion("kind", [processRuntime, dockerRuntime, criRuntime]).default({
      kind: "process",
      workspaces: {},
    }),
    health: health.default({
      checkIntervalMs: 10_000,
      minFreeBytes: GIB,
      probe: { enabled: false, host: "127.0.0.1", port: 9501 },
    }),
    janitor: z
      .object({
        intervalMs: z
          .number()
          .int()
          .min(0)
          .default(6 * 60 * 60 * 1000)
          .describe("How often leftovers in storage are swept (first run at start); 0 = never."),
        graceMs: z
          .number()
          .int()
          .min(60 * 60 * 1000)
          .default(24 * 60 * 60 * 1000)
          .describe("Leftovers younger than this are kept: an upload may still be running."),
      })
      .strict()
      .default({ intervalMs: 6 * 60 * 60 * 1000, graceMs: 24 * 60 * 60 * 1000 }),
    limits: z
      .object({
        maxConcurrentInits: z
          .number()
          .int()
          .min(1)
          .default(4)
          .describe("Workspace initializations running at once; more wait in a queue."),
        maxConcurrentArchives: z
          .number()
          .int()
          .min(1)
          .default(2)
          .describe("Backups and snapshots running at once across all workspaces."),
        ...transportLimitsShape,
        inWorkspace: inWorkspaceLimits,
      })
      .strict()
      .refine((v) => v.headersTimeoutMs <= v.requestTimeoutMs, {
        message: "headersTimeoutMs must not be above requestTimeoutMs",
        path: ["headersTimeoutMs"],
      })
      .default({
        maxConcurrentInits: 4,
        maxConcurrentArchives: 2,
        ...TRANSPORT_LIMIT_DEFAULTS,
        inWorkspace: IN_WORKSPACE_LIMIT_DEFAULTS,
      }),
    archive: archiveSchema,
    idMapping: idMappingSchema,
    quota: z
      .object({
        method: z
          .enum(["auto", "xfs-project", "loop-image", "none"])
          .default("auto")
          .describe(
            "How storage_quota_bytes is enforced: auto = XFS project quota where the working area supports it, else a loop-mounted ext4 image per workspace, else none.",
          ),
      })
      .strict()
      .default({ method: "auto" }),
    linux: z
      .object({
        nsHelperPath: z
          .string()
          .min(1)
          .optional()
          .describe(
            "The namespace helper binary; default $WSD_NSHELPER or native/build/wsd-nshelper beside the daemon.",
          ),
        vethCidr: z
          .string()
          .regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/, "must be an IPv4 CIDR like 10.0.5.0/30")
          .default("10.0.5.0/30")
          .describe("Network of the veth pair SetupPairVeths creates (a /30 is enough)."),
      })
      .strict()
      .default({ vethCidr: "10.0.5.0/30" }),
    content: z
      .object({
        uid: z
          .number()
          .int()
          .min(1)
          .max(4_294_967_294)
          .default(33333)
          .describe(
            "Owner of workspace content (the workspace user): restored backups and snapshots belong to it, whatever the archive says. When the daemon runs as root, git runs as this user, confined to the one workspace; never 0.",
          ),
        gid: z
          .number()
          .int()
          .min(1)
          .max(4_294_967_294)
          .default(33333)
          .describe("Group of workspace content and of the confined git; never 0."),
        userNamespaced: z
          .boolean()
          .optional()
          .describe(
            "Content belongs to the host ids uid/gid have inside workspacekit's user namespace ([0->33333, 1->100000+]: 33333 becomes 133332), as upstream does for user-namespaced workspaces. Unset: follows compat.gitpod.",
          ),
      })
      .strict()
      .default({ uid: 33333, gid: 33333 }),
    sockets: z
      .object({
        uid: z
          .number()
          .int()
          .min(0)
          .max(4_294_967_294)
          .optional()
          .describe(
            "Owner of each workspace's socket directory (mode 0700; see compat.socketLayout): the workspace's container user as the host sees it, the only one besides root who can reach the in-workspace API; default content.uid. Applied when the daemon runs as root.",
          ),
        gid: z
          .number()
          .int()
          .min(0)
          .max(4_294_967_294)
          .optional()
          .describe("Group of each workspace's socket directory; default content.gid."),
      })
      .strict()
      .default({}),
    compat: compatSchema,
    init: initSchema,
    git: z
      .object({
        allowFileRemotes: z
          .boolean()
          .default(false)
          .describe(
            "Accept file:// remotes (repositories on the node), for tests and bare hosts; the confined git sees only that repository, read-only.",
          ),
        allowPrivateNetworks: z
          .boolean()
          .default(false)
          .describe(
            "Git remotes (origin, upstream, submodules) and one-time secret URLs may be on loopback, private, link-local and unique-local addresses; default only public ones. Metadata (169.254.169.254, fd00:ec2::254), unspecified and multicast addresses stay refused. SECURITY.md says how far this holds for git.",
          ),
      })
      .strict()
      .default({ allowFileRemotes: false, allowPrivateNetworks: false }),
    downloads: z
      .object({
        allowPrivateNetworks: z
          .boolean()
          .default(false)
          .describe(
            "Download initializers (and every redirect they follow) may reach loopback, private, link-local and unique-local addresses; default only public ones. Metadata (169.254.169.254, fd00:ec2::254), unspecified and multicast addresses stay refused.",
          ),
        maxBytes: z
          .number()
          .int()
          .min(1)
          .default(4 * 1024 ** 3)
          .describe(
            "Largest file a download initializer accepts; a larger body is stopped while it streams (RESOURCE_EXHAUSTED).",
          ),
      })
      .strict()
      .default({ allowPrivateNetworks: false, maxBytes: 4 * 1024 ** 3 }),
    gitStatusMaxListed: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(100)
      .describe("Lists in the git status returned by DisposeWorkspace are cut at this length."),
    shutdownGraceMs: z
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe("On SIGTERM, running work may finish for this long before the daemon exits."),
    log: z
      .object({
        level: z
          .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
          .default("info")
          .describe("Least severe level written (the old key logLevel is still read)."),
        format: z
          .enum(["auto", "json", "pretty"])
          .default("auto")
          .describe("auto = readable lines on a terminal, JSON lines otherwise."),
      })
      .strict()
      .default({ level: "info", format: "auto" }),
  })
  .strict()
  .superRefine(requireMutualTlsOffLoopback);

export type DaemonConfig = z.infer<typeof configSchema>;
