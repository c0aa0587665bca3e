import { randomBytes } from "node:crypto";
import { InvalidContentUrlError } from "../platform/index.js";
import type { WorkspaceRef } from "./content-store.js";

/**
 * The object key layout (stable; other daemons sharing the store rely on it):
 *
 *   workspaces/<owner>/<metaId>/backup/full/manifest.json               the current backup (written last)
 *   workspaces/<owner>/<metaId>/backup/full/data-<ts>-<rand>.tar.zst   backup data, one per attempt
 *   workspaces/<owner>/<metaId>/snapshots/<ts>-<secret>/manifest.json   a snapshot (written last)
 *   workspaces/<owner>/<metaId>/snapshots/<ts>-<secret>/data.tar.zst    its data
 *
 * <ts> is UTC "YYYYMMDDTHHMMSSmmmZ", <rand> 8 hex digits (it only keeps attempts apart), <secret>
 * 32 hex digits (128 random bits: a snapshot URL is a capability, so its id must not be guessable).
 * Snapshots taken before ids had 128 bits carry 8 hex digits; their URLs still parse and restore.
 * A data object is only meaningful through a manifest naming it; data objects without one are
 * leftovers of failed attempts.
 *
 * Snapshot URLs: `wsd-snapshot:workspaces/<owner>/<metaId>/snapshots/<ts>-<rand>`, i.e. the
 * scheme plus the snapshot's key prefix; a workspace's current backup is
 * `wsd-backup:workspaces/<owner>/<metaId>/backup/full`. They name no bucket or host: any daemon
 * configured with the same store (bucket or local root) resolves them, and moving a store keeps
 * them valid.
 */
export const SNAPSHOT_URL_SCHEME = "wsd-snapshot:";
/** URL form of a workspace's current backup, accepted wherever snapshot URLs are. */
export const BACKUP_URL_SCHEME = "wsd-backup:";

const COMPONENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** New ids carry 32 hex digits; 8 is the format of snapshots taken before (still restorable). */
const SNAPSHOT_ID = /^\d{8}T\d{9}Z-(?:[0-9a-f]{32}|[0-9a-f]{8})$/;
/** Random bytes in a new snapshot id: 128 bits. */
const SNAPSHOT_ID_RANDOM_BYTES = 16;

/** Owner and metaId become key segments; anything but a plain name is refused. */
export function assertKeyComponent(what: string, value: string): void {
  if (!COMPONENT.test(value) || value.includes("..")) {
    throw new InvalidContentUrlError(
      `${what} ${JSON.stringify(value)} is not a valid storage key component`,
    );
  }
}

export function workspacePrefix(ws: Pick<WorkspaceRef, "owner" | "metaId">): string {
  assertKeyComponent("owner", ws.owner);
  assertKeyComponent("metaId", ws.metaId);
  return `workspaces/${ws.owner}/${ws.metaId}`;
}

/** `<ts>-<hex>` with `randomByteCount` random bytes (default 4: enough to keep attempts apart). */
export function timestampId(now: number, randomByteCount = 4): string {
  const ts = new Date(now).toISOString().replace(/[-:]/g, "").replace(".", "");
  return `${ts}-${randomBytes(randomByteCount).toString("hex")}`;
}

export const backupPrefix = (ws: Pick<WorkspaceRef, "owner" | "metaId">) =>
  `${workspacePrefix(ws)}/backup/full/`;
export const backupManifestKey = (ws: Pick<WorkspaceRef, "owner" | "metaId">) =>
  `${backupPrefix(ws)}manifest.json`;
export const newBackupDataKey = (ws: Pick<WorkspaceRef, "owner" | "metaId">, now: number) =>
  `${backupPrefix(ws)}data-${timestampId(now)}.tar.zst`;
/** `<workspace>/backup/full/data-<x>.tar.zst` or `<workspace>/snapshots/<id>/data.tar.zst`. */
const ARCHIVE_DATA_KEY =
  /^(workspaces\/[^/]+\/[^/]+)\/(?:(backup\/full\/)data-[^/]+\.tar\.zst|(snapshots\/[^/]+\/)data\.tar\.zst)$/;

/** Where a key's archive belongs, if it is archive data: `<prefix>manifest.json` must name it. */
export function archiveDataOf(
  key: string,
): { workspacePrefix: string; manifestKey: string; kind: "backup" | "snapshot" } | undefined {
  const m = ARCHIVE_DATA_KEY.exec(key);
  if (!m) return undefined;
  // A match always has the workspace and exactly one of the two directories.
  const [, workspace, backupDir, snapshotDir] = m as unknown as [
    string,
    string,
    string | undefined,
    string | undefined,
  ];
  return {
    workspacePrefix: workspace,
    manifestKey: `${workspace}/${backupDir ?? snapshotDir}manifest.json`,
    kind: backupDir ? "backup" : "snapshot",
  };
}

export const isBackupDataKey = (key: string) => /\/backup\/full\/data-[^/]+\.tar\.zst$/.test(key);

export interface SnapshotLocation {
  prefix: string;
  manifestKey: string;
  dataKey: string;
}

export function newSnapshotLocation(
  ws: Pick<WorkspaceRef, "owner" | "metaId">,
  now: number,
): SnapshotLocation {
  return snapshotLocation(
    `${workspacePrefix(ws)}/snapshots/${timestampId(now, SNAPSHOT_ID_RANDOM_BYTES)}`,
  );
}

function snapshotLocation(prefix: string): SnapshotLocation {
  return { prefix, manifestKey: `${prefix}/manifest.json`, dataKey: `${prefix}/data.tar.zst` };
}

export const snapshotUrl = (loc: SnapshotLocation) => `${SNAPSHOT_URL_SCHEME}${loc.prefix}`;

export const backupUrl = (ws: Pick<WorkspaceRef, "owner" | "metaId">) =>
  `${BACKUP_URL_SCHEME}${workspacePrefix(ws)}/backup/full`;

/** The workspace a backup URL names; throws InvalidContentUrlError for anything else. */
export function parseBackupUrl(url: string): Pick<WorkspaceRef, "owner" | "metaId"> {
  const m = url.startsWith(BACKUP_URL_SCHEME)
    ? /^workspaces\/([^/]+)\/([^/]+)\/backup\/full$/.exec(url.slice(BACKUP_URL_SCHEME.length))
    : null;
  if (!m) throw new InvalidContentUrlError(`malformed backup URL ${JSON.stringify(url)}`);
  const [, owner, metaId] = m as unknown as [string, string, string];
  assertKeyComponent("owner", owner);
  assertKeyComponent("metaId", metaId);
  return { owner, metaId };
}

/** Parses and validates a snapshot URL; throws InvalidContentUrlError for anything else. */
export function parseSnapshotUrl(url: string): SnapshotLocation {
  if (!url.startsWith(SNAPSHOT_URL_SCHEME)) {
    throw new InvalidContentUrlError(
      `snapshot URL must start with ${SNAPSHOT_URL_SCHEME}: ${JSON.stringify(url)}`,
    );
  }
  const malformed = new InvalidContentUrlError(`malformed snapshot URL ${JSON.stringify(url)}`);
  const parts = url.slice(SNAPSHOT_URL_SCHEME.length).split("/");
  if (parts.length !== 5) throw malformed;
  const [ws, owner, metaId, snapshots, id] = parts as [string, string, string, string, string];
  if (ws !== "workspaces" || snapshots !== "snapshots" || !SNAPSHOT_ID.test(id)) throw malformed;
  assertKeyComponent("owner", owner);
  assertKeyComponent("metaId", metaId);
  return snapshotLocation(`workspaces/${owner}/${metaId}/snapshots/${id}`);
}
