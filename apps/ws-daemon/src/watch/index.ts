/**
 * Watching workspaces: the hub that fans state changes and operation progress out to watchers,
 * each with a bounded, coalescing queue (WatchWorkspace), and content sizes for listings
 * (ListWorkspaces).
 */
export type { ProgressView, WatchEvent } from "./watch-event.js";
export { type WatchHooks, WatchHub } from "./watch-hub.js";
export { DEFAULT_WATCHER_LIMIT, WatcherQueue } from "./watcher-queue.js";
export { DEFAULT_SIZE_TTL_MS, type MeasuredSize, WorkspaceSizes } from "./workspace-sizes.js";
