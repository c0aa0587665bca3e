import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ContentGit, ContentHooks } from "../../src/content/ports.js";
import {
  WorkspaceContentManager,
  type WorkspaceContentManagerConfig,
} from "../../src/content/workspace-content-manager.js";
import { GitClient } from "../../src/git/index.js";
import { NodeProcessRunner } from "../../src/platform/process.js";
import type { ContentStore } from "../../src/storage/content-store.js";
import { createContentStore } from "../../src/storage/create-content-store.js";

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

/** The real local-directory store (src/storage): the happy paths run against it. */
export const makeStore = (dirs: TempDirs): ContentStore =>
  createContentStore({ kind: "local", root: dirs.storeRoot });

export const makeGit = (): ContentGit => new GitClient(new NodeProcessRunner());

export const openManager = (
  dirs: TempDirs,
  options: {
    store?: ContentStore;
    git?: ContentGit;
    hooks?: ContentHooks;
    config?: Partial<WorkspaceContentManagerConfig>;
  } = {},
): Promise<WorkspaceContentManager> =>
  WorkspaceContentManager.open(
    {
      workingArea: dirs.area,
      maxConcurrentInits: 4,
      maxConcurrentArchives: 2,
      downloadRetryDelayMs: 10,
      ...options.config,
    },
    {
      store: options.store ?? makeStore(dirs),
      git: options.git ?? makeGit(),
      ...(options.hooks ? { hooks: options.hooks } : {}),
    },
  );

export const metadata = { owner: "owner-1", metaId: "meta-1" };

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
