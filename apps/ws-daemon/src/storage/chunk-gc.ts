import type { Log } from "../platform/index.js";
import type { ChunkCatalog } from "./chunk-catalog.js";
import { CHUNKS_ROOT, indexManifestOf, scopeOfKey } from "./chunk-keys.js";
import { parseAnyManifest } from "./chunked-manifest.js";
import {
  getBytes,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
} from "./object-store.js";

export interface ChunkSweepReport {
  /** Packs deleted because no published index names them. */
  packs: number;
  /** Index objects deleted because no manifest names them. */
  indexes: number;
  /** Leases of writers dead for longer than the grace period, deleted. */
  leases: number;
  /** Scopes left alone this time: a writer was active, or something named could not be read. */
  scopesSkipped: number;
}

export interface ChunkSweepOptions {
  graceMs: number;
  now: () => number;
  log: Log;
  /** Test hook: runs between the candidates' listing and the second look (step 4). */
  beforeRecheck?: (() => Promise<void>) | undefined;
}

interface ScopeObjects {
  packs: ObjectInfo[];
  leases: ObjectInfo[];
}

/**
 * Garbage collection of the chunked format, safe with any number of daemons writing and sweeping
 * the same store (the argument is in docs/chunked-backups.md). Per scope:
 *  1. a live lease (younger than the grace) means a writer may be about to name any pack: skip;
 *  2. mark every pack a published index of the scope names (anything unreadable: skip the scope);
 *  3. candidates: unmarked packs older than the grace;
 *  4. look again: a live lease now → skip; mark from a fresh listing of the published indexes;
 *  5. delete the candidates still unmarked.
 * Then indexes no manifest names (older than the grace) go too.
 */
export async function collectChunks(
  objects: ObjectStore,
  catalog: ChunkCatalog,
  options: ChunkSweepOptions,
): Promise<ChunkSweepReport> {
  const report: ChunkSweepReport = { packs: 0, indexes: 0, leases: 0, scopesSkipped: 0 };
  const scopes = new Map<string, ScopeObjects>();
  for await (const o of objects.list(CHUNKS_ROOT)) {
    const scope = scopeOfKey(o.key);
    if (!scope) continue;
    const entry = scopes.get(scope) ?? { packs: [], leases: [] };
    scopes.set(scope, entry);
    if (o.key.startsWith(`${scope}packs/`)) entry.packs.push(o);
    else entry.leases.push(o);
  }
  for (const [scope, found] of scopes) {
    try {
      const swept = await sweepScope(objects, catalog, scope, found, options);
      if (swept === undefined) report.scopesSkipped++;
      else {
        report.packs += swept.packs;
        report.leases += swept.leases;
      }
    } catch (err) {
      report.scopesSkipped++;
      options.log("warn", `chunk sweep keeps everything of ${scope}`, { err });
    }
  }
  report.indexes = await sweepIndexes(objects, options);
  return report;
}

async function sweepScope(
  objects: ObjectStore,
  catalog: ChunkCatalog,
  scope: string,
  found: ScopeObjects,
  options: ChunkSweepOptions,
): Promise<{ packs: number; leases: number } | undefined> {
  const cutoff = options.now() - options.graceMs;
  const isLive = (lease: ObjectInfo) => lease.lastModified.getTime() >= cutoff;
  if (found.leases.some(isLive)) return undefined;
  const workspaces = workspacesOf(scope);
  const marked = new Set<string>();
  const mark = () =>
    catalog.forEachIndex(
      scope,
      workspaces,
      (index) => {
        for (const p of index.packs) marked.add(p.key);
      },
      { strict: true },
    );
  await mark();
  const candidates = found.packs.filter(
    (p) => !marked.has(p.key) && p.lastModified.getTime() < cutoff,
  );
  const deadLeases = found.leases.filter((l) => !isLive(l));
  if (candidates.length > 0) {
    await options.beforeRecheck?.();
    for await (const lease of objects.list(`${scope}leases/`)) {
      if (isLive(lease)) return undefined;
    }
    await mark();
  }
  let packs = 0;
  for (const p of candidates) {
    if (marked.has(p.key)) continue;
    await objects.delete(p.key);
    packs++;
  }
  for (const l of deadLeases) await objects.delete(l.key);
  return { packs, leases: deadLeases.length };
}

/** Where the manifests that may name a scope's packs live. */
function workspacesOf(scope: string): string {
  const owner = /^chunks\/owners\/([^/]+)\/$/.exec(scope)?.[1];
  return owner ? `workspaces/${owner}/` : "workspaces/";
}

/** Deletes index objects older than the grace that their manifest does not name. */
async function sweepIndexes(objects: ObjectStore, options: ChunkSweepOptions): Promise<number> {
  const cutoff = options.now() - options.graceMs;
  let removed = 0;
  for await (const o of objects.list("workspaces/")) {
    const manifestKey = indexManifestOf(o.key);
    if (!manifestKey || o.lastModified.getTime() >= cutoff) continue;
    try {
      let named: string | undefined;
      try {
        const any = parseAnyManifest(await getBytes(objects, manifestKey), manifestKey);
        named = any.format === "chunked" ? any.manifest.indexKey : undefined;
      } catch (err) {
        if (!(err instanceof ObjectNotFoundError)) throw err;
      }
      if (named === o.key) continue;
      await objects.delete(o.key);
      removed++;
    } catch (err) {
      options.log("warn", `chunk sweep keeps ${o.key}: its manifest cannot be read`, { err });
    }
  }
  return removed;
}
