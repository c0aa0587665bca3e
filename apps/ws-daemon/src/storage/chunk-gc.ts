import type { Log } from "../platform/index.js";
import type { ChunkCatalog } from "./chunk-catalog.js";
import {
  CHUNKS_ROOT,
  condemnedPrefix,
  indexManifestOf,
  newCondemnedKey,
  scopeOfKey,
} from "./chunk-keys.js";
import { parseAnyManifest } from "./chunked-manifest.js";
import {
  getBytes,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  putBytes,
} from "./object-store.js";
import { encodeCondemnedList } from "./reusable-chunks.js";

export interface ChunkSweepReport {
  /** Packs deleted because no published index names them. */
  packs: number;
  /** Index objects deleted because no manifest names them. */
  indexes: number;
  /** Leases of writers dead for longer than the grace period, deleted. */
  leases: number;
  /**
   * Scopes left alone this time: a writer that began before the sweep condemned its candidates
   * was still running after the wait, or something named could not be read.
   */
  scopesSkipped: number;
}

export interface ChunkSweepOptions {
  graceMs: number;
  now: () => number;
  log: Log;
  /**
   * How long a sweep waits for the writers that began before its condemned list to end before
   * leaving the scope for the next sweep. Default: half the grace (a writer may not publish
   * later than that), at most WAIT_FOR_WRITERS_MAX_MS.
   */
  waitForWritersMs?: number | undefined;
  /** Between two looks at the leases while waiting. Default 500 ms. */
  pollMs?: number | undefined;
  sleep?: ((ms: number) => Promise<void>) | undefined;
  /** Test hook: runs once the condemned list is stored, before the wait and the second look. */
  beforeRecheck?: (() => Promise<void>) | undefined;
  /** Test hook: the sweep begins waiting for these writers' leases (stored before its list). */
  onWaitForWriters?: ((leases: string[]) => void) | undefined;
}

const WAIT_FOR_WRITERS_MAX_MS = 10 * 60 * 1000;

interface ScopeObjects {
  packs: ObjectInfo[];
  leases: ObjectInfo[];
  condemned: ObjectInfo[];
}

/**
 * Garbage collection of the chunked format, safe with any number of daemons writing and sweeping
 * the same store, and making progress while writers run without pause (the argument is in
 * docs/chunked-backups.md). Per scope:
 *  1. mark every pack a published index of the scope names (anything unreadable: skip the scope);
 *  2. candidates: unmarked packs older than the grace;
 *  3. store them as a condemned list: writers whose lease comes later never name them;
 *  4. wait until every writer whose lease came before the list ended (or its lease died);
 *     still running after the wait → skip the scope this time;
 *  5. mark again from a fresh listing of the published indexes;
 *  6. delete the candidates still unmarked, then the list.
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
    const entry = scopes.get(scope) ?? { packs: [], leases: [], condemned: [] };
    scopes.set(scope, entry);
    if (o.key.startsWith(`${scope}packs/`)) entry.packs.push(o);
    else if (o.key.startsWith(condemnedPrefix(scope))) entry.condemned.push(o);
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
  let packs = 0;
  if (candidates.length > 0) {
    const listKey = newCondemnedKey(scope, options.now());
    await putBytes(objects, listKey, encodeCondemnedList(candidates.map((p) => p.key)), {
      contentType: "application/json",
    });
    try {
      await options.beforeRecheck?.();
      if (!(await writersBeforeEnded(objects, scope, listKey, options))) return undefined;
      await mark();
      for (const p of candidates) {
        if (marked.has(p.key)) continue;
        await objects.delete(p.key);
        packs++;
      }
    } finally {
      await objects
        .delete(listKey)
        .catch((err: unknown) => options.log("warn", `cannot delete ${listKey}`, { err }));
    }
  }
  const isDead = (o: ObjectInfo) => o.lastModified.getTime() < cutoff;
  const deadLeases = found.leases.filter(isDead);
  for (const l of deadLeases) await objects.delete(l.key);
  // lists of sweeps that died before deleting them (a running sweep is younger than the grace)
  for (const l of found.condemned.filter(isDead)) await objects.delete(l.key);
  return { packs, leases: deadLeases.length };
}

/**
 * Waits until no writer whose lease was stored before the condemned list `listKey` runs: each
 * lease is gone (its writer ended) or older than the grace (its writer may no longer publish).
 * Both times are the store's, so daemons' clocks do not matter; a lease stored in the same
 * second as the list (S3 keeps seconds) counts as earlier. False when the wait ran out.
 */
async function writersBeforeEnded(
  objects: ObjectStore,
  scope: string,
  listKey: string,
  options: ChunkSweepOptions,
): Promise<boolean> {
  const list = await objects.head(listKey);
  if (!list) throw new Error(`condemned list ${listKey} vanished`);
  const listedAt = list.lastModified.getTime();
  const waitMs = options.waitForWritersMs ?? Math.min(options.graceMs / 2, WAIT_FOR_WRITERS_MAX_MS);
  const pollMs = options.pollMs ?? 500;
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const started = options.now();
  let told = false;
  for (;;) {
    const cutoff = options.now() - options.graceMs;
    const earlier: string[] = [];
    for await (const lease of objects.list(`${scope}leases/`)) {
      const at = lease.lastModified.getTime();
      if (at <= listedAt && at >= cutoff) earlier.push(lease.key);
    }
    if (earlier.length === 0) return true;
    if (options.now() - started >= waitMs) {
      options.log("info", `chunk sweep leaves ${scope} for later: writers still running`, {
        leases: earlier.length,
      });
      return false;
    }
    if (!told) options.onWaitForWriters?.(earlier);
    told = true;
    await sleep(pollMs);
  }
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
