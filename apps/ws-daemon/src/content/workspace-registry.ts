import type { Deferred } from "../platform/index.js";
import { deferred } from "../platform/index.js";
import { ContentError } from "./content-error.js";
import type { DisposeResult } from "./manager-types.js";
import { validateWorkspaceId } from "./workspace-id.js";
import type { WorkspaceRecord } from "./workspace-record.js";

/** A known workspace: its record plus what is only kept in memory while the daemon runs. */
export interface WorkspaceEntry {
  record: WorkspaceRecord;
  /** Resolved when the current init attempt has finished (either way). */
  initSettled: Deferred;
  initAbort?: AbortController;
  disposal?: Promise<DisposeResult>;
  disposed: boolean;
  /**
   * Why the content on disk must not be archived right now (e.g. its quota image could not be
   * mounted: the folder is empty and a backup of it would replace the last good one).
   */
  archiveBlocked?: string;
}

/** An entry for a record loaded from disk: no init is running for it. */
export const loadedEntry = (record: WorkspaceRecord): WorkspaceEntry => {
  const initSettled = deferred();
  initSettled.resolve();
  return { record, initSettled, disposed: false };
};

/** A failed init keeps its record so WaitForInit can say why; a new init may replace it. */
const isFailedInit = (record: WorkspaceRecord): boolean =>
  record.state === "none" && record.initFailure !== undefined;

/**
 * The workspaces this daemon knows, by id. Reads never wait: they see the in-memory records,
 * which the manager persists through the state store after each change.
 */
export class WorkspaceRegistry {
  private readonly entries = new Map<string, WorkspaceEntry>();
  /**
   * Ids whose state file exists but cannot be read: their content may be someone's work, so the
   * id stays taken (an init would wipe the folder) until an operator repairs or removes the file.
   */
  private readonly unreadable = new Map<string, string>();

  get(id: string): WorkspaceEntry | undefined {
    return this.entries.get(id);
  }

  all(): WorkspaceEntry[] {
    return [...this.entries.values()];
  }

  /** Adds a loaded workspace. */
  set(entry: WorkspaceEntry): void {
    this.entries.set(entry.record.id, entry);
  }

  /**
   * Registers a new init's entry if its id is free or belongs to a failed init (returned, as it is
   * replaced). Synchronous, so two racing inits of one id cannot both pass.
   */
  claim(entry: WorkspaceEntry): WorkspaceEntry | undefined {
    const { id } = entry.record;
    const unreadable = this.unreadable.get(id);
    if (unreadable !== undefined) {
      throw new ContentError(
        "failed-precondition",
        `workspace ${id} has a state file that cannot be read (${unreadable}); its content is kept until an operator repairs or removes that file and restarts the daemon`,
      );
    }
    const existing = this.entries.get(id);
    if (existing && !isFailedInit(existing.record)) {
      throw new ContentError("already-exists", `workspace ${id} exists already`);
    }
    this.entries.set(id, entry);
    return existing;
  }

  /** Forgets the entry unless another one has taken its id; true if it was forgotten. */
  delete(entry: WorkspaceEntry): boolean {
    if (!this.isCurrent(entry)) return false;
    this.entries.delete(entry.record.id);
    return true;
  }

  isCurrent(entry: WorkspaceEntry): boolean {
    return this.entries.get(entry.record.id) === entry;
  }

  markUnreadable(id: string, stateFile: string): void {
    this.unreadable.set(id, stateFile);
  }

  /** Whether a directory of that name in the working area belongs to a workspace. */
  claims(name: string): boolean {
    return this.entries.has(name) || this.unreadable.has(name);
  }

  requireEntry(id: string): WorkspaceEntry {
    const entry = this.entries.get(validateWorkspaceId(id));
    if (!entry) throw new ContentError("not-found", `workspace ${id} is unknown`);
    return entry;
  }

  /** After waiting for the mutex the workspace may have been disposed or replaced. */
  requireCurrent(entry: WorkspaceEntry): void {
    if (entry.disposed || !this.isCurrent(entry)) {
      throw new ContentError("not-found", `workspace ${entry.record.id} is unknown`);
    }
  }
}

/** Backups and snapshots need AVAILABLE content that may be archived, and remote storage. */
export const requireArchivable = (entry: WorkspaceEntry, what: string): void => {
  const { record } = entry;
  const blocked =
    entry.archiveBlocked ?? (record.contentWiped ? "its content was wiped" : undefined);
  if (blocked) {
    throw new ContentError(
      "failed-precondition",
      `cannot ${what} workspace ${record.id}: ${blocked}`,
    );
  }
  if (record.state !== "available") {
    throw new ContentError(
      "failed-precondition",
      `cannot ${what} workspace ${record.id}: it is not ready (state ${record.state})`,
    );
  }
  if (record.remoteStorageDisabled) {
    throw new ContentError(
      "failed-precondition",
      `cannot ${what} workspace ${record.id}: remote storage is disabled`,
    );
  }
};
