import { z } from "zod";

/** Config sections for Gitpod compatibility (issue 11): id ranges, compat switches, init. */

export const idMappingSchema = z
  .object({
    allowedHostRanges: z
      .array(
        z
          .object({
            start: z.number().int().min(1).max(4_294_967_294).describe("First host id."),
            size: z.number().int().min(1).max(4_294_967_295).describe("Number of ids."),
          })
          .strict(),
      )
      .min(1)
      .default([
        { start: 33333, size: 1 },
        { start: 100_000, size: 70_000 },
      ])
      .describe(
        "Host id ranges a workspace may map onto (WriteIDMapping): each mapping must lie inside one range, its end included. Default as upstream: the workspace user 33333 (for the workspace's root) and 100000..169999.",
      ),
    hostRangeStart: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe(
        "Older form of one allowed range (with hostRangeEnd); when set it replaces allowedHostRanges.",
      ),
    hostRangeEnd: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("Highest host id of the older one-range form (inclusive)."),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.hostRangeStart === undefined && v.hostRangeEnd === undefined) return;
    if (v.hostRangeStart === undefined || v.hostRangeEnd === undefined) {
      ctx.addIssue({
        code: "custom",
        message: "hostRangeStart and hostRangeEnd are set together",
        path: ["hostRangeEnd"],
      });
    } else if (v.hostRangeEnd < v.hostRangeStart) {
      ctx.addIssue({
        code: "custom",
        message: "hostRangeEnd must not be below hostRangeStart",
        path: ["hostRangeEnd"],
      });
    }
  })
  .default({
    allowedHostRanges: [
      { start: 33333, size: 1 },
      { start: 100_000, size: 70_000 },
    ],
  });

export const compatSchema = z
  .object({
    gitpod: z
      .boolean()
      .default(false)
      .describe(
        "Serve Gitpod's own workspace images: write <workspace>/.gitpod/ready as Gitpod's supervisor expects (temp file then rename; JSON with source and metrics) besides .ws-daemon/ready.json, and (unless content.userNamespaced says otherwise) own content by the host id the workspace user has in workspacekit's user namespace. Off by default: .gitpod in a workspace is the user's, and a non-directory .gitpod is renamed to .gitpod.yaml as upstream does.",
      ),
    socketLayout: z
      .enum(["sockets-dir", "id-daemon"])
      .default("sockets-dir")
      .describe(
        "Where each workspace's in-workspace socket lives: sockets-dir = <workingArea>/.sockets/<id>/daemon.sock; id-daemon = <workingArea>/<id>-daemon/daemon.sock, the directory Gitpod mounts at /.workspace (workspace ids ending in -daemon are then refused).",
      ),
    markPath: z
      .string()
      .regex(/^\/[^\0]*$/, "must be an absolute path")
      .default("/.workspace/mark")
      .describe(
        "Where PrepareForUserNS mounts the shifted container root inside the workspace container (workspacekit reads /.workspace/mark).",
      ),
  })
  .strict()
  .default({ gitpod: false, socketLayout: "sockets-dir", markPath: "/.workspace/mark" });

export const initSchema = z
  .object({
    restoreBackupFirst: z
      .boolean()
      .default(true)
      .describe(
        "As upstream: when the workspace has a backup, InitWorkspace restores it instead of running the initializer, so re-initializing never loses the work in the backup.",
      ),
  })
  .strict()
  .default({ restoreBackupFirst: true });
