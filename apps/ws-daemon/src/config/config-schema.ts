import { z } from "zod";

const port = z.number().int().min(0).max(65535);

const tlsSchema = z
  .object({
    /** Server certificate (PEM file path). */
    certFile: z.string().min(1),
    /** Server private key (PEM file path). */
    keyFile: z.string().min(1),
    /** CA bundle that client certificates must chain to; set = mutual TLS required. */
    clientCaFile: z.string().min(1).optional(),
  })
  .strict();

const localStorage = z
  .object({
    kind: z.literal("local"),
    /** Directory holding backups and snapshots. */
    root: z.string().min(1).default("./.ws-daemon-data/storage"),
  })
  .strict();

const s3Storage = z
  .object({
    kind: z.literal("s3"),
    endpoint: z.string().url().optional(),
    region: z.string().min(1).default("us-east-1"),
    bucket: z.string().min(3),
    forcePathStyle: z.boolean().default(false),
    /** Leave unset to use the standard AWS credential chain (AWS_ACCESS_KEY_ID, ...). */
    accessKeyId: z.string().optional(),
    secretAccessKey: z.string().optional(),
    createBucket: z.boolean().default(false),
  })
  .strict();

const processRuntime = z
  .object({
    kind: z.literal("process"),
    /** Workspace id -> root pid of its process tree, for bare hosts and tests. */
    workspaces: z.record(z.string(), z.number().int().positive()).default({}),
  })
  .strict();

const dockerRuntime = z
  .object({
    kind: z.literal("docker"),
    socketPath: z.string().min(1).default("/var/run/docker.sock"),
    /** Label whose value is the workspace id. */
    label: z.string().min(1).default("ws-daemon.workspace-id"),
  })
  .strict();

export const configSchema = z
  .object({
    /** Workspace content lives at <workingArea>/<id>, sockets at <workingArea>/.sockets/<id>/daemon.sock. */
    workingArea: z.string().min(1).default("./.ws-daemon-data/workspaces"),
    listen: z
      .object({ host: z.string().min(1).default("127.0.0.1"), port: port.default(8080) })
      .strict()
      .default({ host: "127.0.0.1", port: 8080 }),
    tls: tlsSchema.optional(),
    metrics: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().min(1).default("127.0.0.1"),
        port: port.default(9500),
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
        /** How often leftovers in storage are swept (first run at start); 0 = never. */
        intervalMs: z
          .number()
          .int()
          .min(0)
          .default(6 * 60 * 60 * 1000),
        /** Leftovers younger than this are kept: they may belong to an upload still running. */
        graceMs: z
          .number()
          .int()
          .min(60 * 60 * 1000)
          .default(24 * 60 * 60 * 1000),
      })
      .strict()
      .default({ intervalMs: 6 * 60 * 60 * 1000, graceMs: 24 * 60 * 60 * 1000 }),
    limits: z
      .object({
        maxConcurrentInits: z.number().int().min(1).default(4),
        maxConcurrentArchives: z.number().int().min(1).default(2),
      })
      .strict()
      .default({ maxConcurrentInits: 4, maxConcurrentArchives: 2 }),
    idMapping: z
      .object({
        /** Host ids a workspace may map to, inclusive of both ends. */
        hostRangeStart: z.number().int().min(1).default(100_000),
        hostRangeEnd: z.number().int().min(1).default(165_535),
      })
      .strict()
      .refine((v) => v.hostRangeEnd >= v.hostRangeStart, {
        message: "hostRangeEnd must not be below hostRangeStart",
        path: ["hostRangeEnd"],
      })
      .default({ hostRangeStart: 100_000, hostRangeEnd: 165_535 }),
    quota: z
      .object({
        /**
         * How storage_quota_bytes is enforced: "auto" picks XFS project quota when the working
         * area supports it, else a loop-mounted ext4 image per workspace, else none (logged).
         */
        method: z.enum(["auto", "xfs-project", "loop-image", "none"]).default("auto"),
      })
      .strict()
      .default({ method: "auto" }),
    linux: z
      .object({
        /** The namespace helper binary; default $WSD_NSHELPER or native/build/wsd-nshelper beside the daemon. */
        nsHelperPath: z.string().min(1).optional(),
        /** Network of the veth pair SetupPairVeths creates (a /30 is enough). */
        vethCidr: z
          .string()
          .regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/, "must be an IPv4 CIDR like 10.0.5.0/30")
          .default("10.0.5.0/30"),
      })
      .strict()
      .default({ vethCidr: "10.0.5.0/30" }),
    /** Lists in the git status returned by DisposeWorkspace are cut at this length. */
    gitStatusMaxListed: z.number().int().min(1).max(10_000).default(100),
    /** On SIGTERM, running work may finish for this long before the daemon exits. */
    shutdownGraceMs: z.number().int().min(0).default(30_000),
    logLevel: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info"),
  })
  .strict();

export type DaemonConfig = z.infer<typeof configSchema>;
