import { z } from "zod";

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

const localStorage = z
  .object({
    kind: z.literal("local").describe("Backups in a local directory (the default kind)."),
    root: z
      .string()
      .min(1)
      .default("./.ws-daemon-data/storage")
      .describe("Directory holding backups and snapshots."),
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
  })
  .strict();

export const configSchema = z
  .object({
    workingArea: z
      .string()
      .min(1)
      .default("./.ws-daemon-data/workspaces")
      .describe(
        "Workspace content lives at <workingArea>/<id>, sockets at <workingArea>/.sockets/<id>/daemon.sock.",
      ),
    listen: z
      .object({
        host: z.string().min(1).default("127.0.0.1").describe("Address the node API listens on."),
        port: port.default(8080).describe("Port of the node API (gRPC, gRPC-Web, Connect)."),
      })
      .strict()
      .default({ host: "127.0.0.1", port: 8080 }),
    tls: tlsSchema.optional(),
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
    runtime: z.discriminatedUnion("kind", [processRuntime, dockerRuntime]).default({
      kind: "process",
      workspaces: {},
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
      })
      .strict()
      .default({ maxConcurrentInits: 4, maxConcurrentArchives: 2 }),
    idMapping: z
      .object({
        hostRangeStart: z
          .number()
          .int()
          .min(1)
          .default(100_000)
          .describe("Lowest host id a workspace may map to (WriteIDMapping)."),
        hostRangeEnd: z
          .number()
          .int()
          .min(1)
          .default(165_535)
          .describe("Highest host id a workspace may map to (inclusive)."),
      })
      .strict()
      .refine((v) => v.hostRangeEnd >= v.hostRangeStart, {
        message: "hostRangeEnd must not be below hostRangeStart",
        path: ["hostRangeEnd"],
      })
      .default({ hostRangeStart: 100_000, hostRangeEnd: 165_535 }),
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
  .strict();

export type DaemonConfig = z.infer<typeof configSchema>;
