import { guardedFetch, networkPolicy, Semaphore } from "../platform/index.js";
import type {
  WorkspaceContentManagerConfig,
  WorkspaceContentManagerDeps,
} from "./manager-types.js";
import type { InitContext } from "./workspace-init.js";

/** Drops undefined values (exactOptionalPropertyTypes-safe spreading of optional settings). */
const pickDefined = <T extends Record<string, unknown>>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/** What every init of a manager shares: its settings, the store, git and the download fetch. */
export const createInitContext = (
  config: WorkspaceContentManagerConfig,
  deps: WorkspaceContentManagerDeps,
  own: Pick<InitContext, "disk" | "clock" | "hooks" | "persist">,
): InitContext => ({
  ...own,
  slots: new Semaphore(config.maxConcurrentInits, () => own.clock.now()),
  initializers: {
    store: deps.store,
    git: deps.git,
    fetch:
      deps.fetch ??
      guardedFetch({
        policy:
          deps.networkPolicy ??
          networkPolicy({ allowPrivateNetworks: config.downloadAllowPrivateNetworks ?? false }),
      }),
    clock: own.clock,
    gitpodReadyFile: config.gitpodReadyFile ?? false,
    ...pickDefined({
      owner: config.contentOwner,
      downloadAttempts: config.downloadAttempts,
      downloadRetryDelayMs: config.downloadRetryDelayMs,
      downloadTimeoutMs: config.downloadTimeoutMs,
      downloadMaxBytes: config.downloadMaxBytes,
    }),
  },
  restoreBackupFirst: config.restoreBackupFirst ?? true,
  gitpodReadyFile: config.gitpodReadyFile ?? false,
});
