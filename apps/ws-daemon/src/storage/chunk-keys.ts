import { randomBytes } from "node:crypto";
import { assertKeyComponent } from "./object-keys.js";

/**
 * Keys of the chunked format (docs/chunked-backups.md):
 *
 *   chunks/<scope>/packs/<ts>-<rand>.pack     zstd of concatenated chunks
 *   chunks/<scope>/leases/<ts>-<rand>         a backup or snapshot writing into the scope
 *   chunks/<scope>/condemned/<ts>-<rand>.json packs a running sweep is about to delete
 *   <workspace>/backup/full/index-<ts>-<rand>.json, <workspace>/snapshots/<id>/index.json
 *
 * <scope> is `owners/<owner>` (deduplication among one owner's archives) or `store` (among all).
 */
export type DedupScope = "owner" | "store";

export const CHUNKS_ROOT = "chunks/";

export function scopePrefix(scope: DedupScope, owner: string): string {
  if (scope === "store") return `${CHUNKS_ROOT}store/`;
  assertKeyComponent("owner", owner);
  return `${CHUNKS_ROOT}owners/${owner}/`;
}

/** Where the manifests that may name a scope's packs live. */
export function scopeWorkspaces(scope: DedupScope, owner: string): string {
  if (scope === "store") return "workspaces/";
  assertKeyComponent("owner", owner);
  return `workspaces/${owner}/`;
}

/** `YYYYMMDDTHHMMSSmmmZ-<128 random bits>`: sorts by time, never collides across daemons. */
function uniqueId(now: number): string {
  const ts = new Date(now).toISOString().replace(/[-:]/g, "").replace(".", "");
  return `${ts}-${randomBytes(16).toString("hex")}`;
}
const UNIQUE_ID = "\\d{8}T\\d{9}Z-[0-9a-f]{32}";

export const newPackKey = (prefix: string, now: number) => `${prefix}packs/${uniqueId(now)}.pack`;
export const newLeaseKey = (prefix: string, now: number) => `${prefix}leases/${uniqueId(now)}`;
export const newCondemnedKey = (prefix: string, now: number) =>
  `${prefix}condemned/${uniqueId(now)}.json`;
export const condemnedPrefix = (prefix: string) => `${prefix}condemned/`;

const PACK_KEY = new RegExp(
  `^chunks/(?:owners/[A-Za-z0-9][A-Za-z0-9._-]{0,127}|store)/packs/${UNIQUE_ID}\\.pack$`,
);

/** Whether `key` is a pack of the scope at `prefix` (what a restore accepts from an index). */
export const isPackKeyOf = (prefix: string, key: string) =>
  key.startsWith(`${prefix}packs/`) && PACK_KEY.test(key) && !key.includes("..");

export const newBackupIndexKey = (backupPrefix: string, now: number) =>
  `${backupPrefix}index-${uniqueId(now)}.json`;
export const isBackupIndexKey = (backupPrefix: string, key: string) =>
  key.startsWith(backupPrefix) &&
  new RegExp(`^index-${UNIQUE_ID}\\.json$`).test(key.slice(backupPrefix.length));
export const snapshotIndexKey = (snapshotPrefix: string) => `${snapshotPrefix}/index.json`;

/** The scope prefix named by a pack key, for grouping in the sweep. */
export function scopeOfKey(key: string): string | undefined {
  const m = /^(chunks\/(?:owners\/[^/]+|store)\/)(?:packs|leases|condemned)\//.exec(key);
  return m?.[1];
}

/** Index objects a sweep may judge: `<workspace>/backup/full/index-*.json`, `<workspace>/snapshots/<id>/index.json`. */
export function indexManifestOf(key: string): string | undefined {
  const m =
    /^(workspaces\/[^/]+\/[^/]+\/backup\/full\/)index-[^/]+\.json$/.exec(key) ??
    /^(workspaces\/[^/]+\/[^/]+\/snapshots\/[^/]+\/)index\.json$/.exec(key);
  return m ? `${m[1]}manifest.json` : undefined;
}
