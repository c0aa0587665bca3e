import type { Log } from "../platform/index.js";
import type { ContentHooks } from "./ports.js";
import type { WorkspaceState } from "./workspace-record.js";

/** Calls observability hooks so that a throwing hook can never change an operation's outcome. */
export class SafeHooks {
  constructor(readonly hooks: ContentHooks) {}

  call(invoke: (hooks: ContentHooks) => unknown): void {
    try {
      invoke(this.hooks);
    } catch {
      // observability must never change the outcome of an operation
    }
  }

  /** The hooks' logger as a plain Log that never throws (handed to the content's modules). */
  readonly log: Log = (level, message, fields) => this.call((h) => h.log?.(level, message, fields));

  state(id: string, from: WorkspaceState | undefined, to: WorkspaceState | undefined): void {
    this.call((h) => h.onStateChange?.(id, from, to));
  }
}
