import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import {
  type ContentGit,
  type ContentHooks,
  type GitInitializerSpec,
  WorkspaceContentManager,
  type WorkspaceContentManagerConfig,
  type WorkspaceRecord,
} from "../../src/content/index.js";
import { GitClient } from "../../src/git/index.js";
import {
  type Deferred,
  deferred,
  type NetworkPolicy,
  NodeProcessRunner,
  type RemoveTreeOptions,
} from "../../src/platform/index.js";
import type { QuotaEnforcer } from "../../src/quota/index.js";
import { type ContentStore, createContentStore } from "../../src/storage/index.js";
import { HttpFileServer, type ServedFile } from "../support/http-file-server.js";

export interface TempDirs {
  root: string;
  area: string;
  storeRoot: string;
  cleanup(): Promise<void>;
}

export const makeTempDirs = async (): Promise<TempDirs> => {
  const root = await mkdtemp(join(tmpdir(), "ws-content-test-"));
  return {
    root,
    area: join(root, "area"),
    storeRoot: join(root, "store"),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
};

/** The value, or a failed test saying what was missing (instead of a non-null assertion). */
export const must = <T>(value: T | null | undefined, what: string): T => {
  if (value === null || value === undefined) throw new Error(`expected ${what}`);
  return value;
};

/** The real local-directory store (src/storage): the happy paths run against it. */
export const makeStore = (dirs: TempDirs): ContentStore =>
  createContentStore({ kind: "local", root: dirs.storeRoot });

export const makeGit = (): ContentGit => new GitClient(new NodeProcessRunner());

export interface OpenManagerOptions {
  store?: ContentStore;
  git?: ContentGit;
  hooks?: ContentHooks;
  quota?: QuotaEnforcer;
  removeOptions?: RemoveTreeOptions;
  /** Instead of the one from config.downloadAllowPrivateNetworks. */
  networkPolicy?: NetworkPolicy;
  config?: Partial<WorkspaceContentManagerConfig>;
}

export const openManager = (
  dirs: TempDirs,
  options: OpenManagerOptions = {},
): Promise<WorkspaceContentManager> =>
  WorkspaceContentManager.open(
    {
      workingArea: dirs.area,
      maxConcurrentInits: 4,
      maxConcurrentArchives: 2,
      downloadRetryDelayMs: 10,
      // The test servers listen on 127.0.0.1 (download-policy.test.ts tests the default).
      downloadAllowPrivateNetworks: true,
      ...options.config,
    },
    {
      store: options.store ?? makeStore(dirs),
      git: options.git ?? makeGit(),
      ...(options.hooks ? { hooks: options.hooks } : {}),
      ...(options.quota ? { quota: options.quota } : {}),
      ...(options.removeOptions ? { removeOptions: options.removeOptions } : {}),
      ...(options.networkPolicy ? { networkPolicy: options.networkPolicy } : {}),
    },
  );

/** What the tests of a file use of the HTTP file server. */
export interface FileServer {
  readonly baseUrl: string;
  readonly port: number;
  serve(path: string, file: ServedFile | string | Buffer): string;
  /** Paths requested, in order. */
  readonly requests: string[];
}

/** One HTTP file server for the test file: started before its tests, closed after them. */
export const useFileServer = (): FileServer => {
  let server: HttpFileServer | undefined;
  beforeAll(async () => {
    server = await HttpFileServer.start();
  });
  afterAll(() => server?.close());
  const current = () => must(server, "the file server (started in beforeAll)");
  return {
    get baseUrl() {
      return current().baseUrl;
    },
    get port() {
      return current().port;
    },
    serve: (path, file) => current().serve(path, file),
    get requests() {
      return current().requests;
    },
  };
};

/** A test's working area: temp dirs, plus what must be undone before they are removed. */
export interface ContentArea {
  readonly dirs: TempDirs;
  /** Opens a manager on the area; it is shut down after the test. */
  open(options?: OpenManagerOptions): Promise<WorkspaceContentManager>;
  /** A gate the test opens; still-closed ones are opened after the test so nothing hangs. */
  gate(): Deferred;
}

/**
 * Fresh temp dirs for every test. After the test: open gates, shut managers down (each with
 * `shutdownGraceMs`), remove the dirs.
 */
export const useContentArea = (shutdownGraceMs = 2_000): ContentArea => {
  let dirs: TempDirs | undefined;
  const managers: WorkspaceContentManager[] = [];
  const gates: Deferred[] = [];
  beforeEach(async () => {
    dirs = await makeTempDirs();
  });
  afterEach(async () => {
    for (const g of gates.splice(0)) g.resolve();
    for (const m of managers.splice(0)) await m.shutdown(shutdownGraceMs);
    await dirs?.cleanup();
    dirs = undefined;
  });
  const area: ContentArea = {
    get dirs() {
      return must(dirs, "the temp dirs (made in beforeEach)");
    },
    async open(options = {}) {
      const manager = await openManager(area.dirs, options);
      managers.push(manager);
      return manager;
    },
    gate() {
      const g = deferred();
      gates.push(g);
      return g;
    },
  };
  return area;
};

export const metadata = { owner: "owner-1", metaId: "meta-1" };

/** A git initializer with plain defaults (remote head, checkout "repo", no auth). */
export const gitInitializer = (
  remoteUri: string,
  over: Partial<GitInitializerSpec> = {},
): GitInitializerSpec => ({
  remoteUri,
  targetMode: "remote-head",
  cloneTarget: "",
  checkoutLocation: "repo",
  customConfig: {},
  auth: { kind: "none" },
  fullClone: false,
  ...over,
});

/** A persisted record as a manager would have written it (state available, empty initializer). */
export const workspaceRecord = (
  id: string,
  over: Partial<WorkspaceRecord> = {},
): WorkspaceRecord => ({
  version: 1,
  id,
  metadata: { owner: "o", metaId: "m" },
  state: "available",
  initializer: { kind: "empty" },
  storageQuotaBytes: 0,
  remoteStorageDisabled: false,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  snapshots: [],
  ...over,
});

/** Resolves after the event loop has had a chance to run pending callbacks. */
export const tick = () => new Promise((r) => setTimeout(r, 20));

export const waitUntil = async (
  cond: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> => {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
