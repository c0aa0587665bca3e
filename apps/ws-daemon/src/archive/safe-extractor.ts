import {
  chmodSync,
  closeSync,
  constants,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  symlinkSync,
} from "node:fs";
import path from "node:path";
import { HostileArchiveError } from "./archive-errors.js";
import { archiveLimitsOf, LimitBudget, type SomeArchiveLimits } from "./archive-limits.js";
import { fileSink } from "./file-sink.js";
import type { Segment } from "./sparse-map.js";
import type { EntryBodySink, TarParserHandler } from "./tar-parser.js";

/** The limits a restore applies (the same ArchiveLimits the writer applies). */
export type ExtractLimits = SomeArchiveLimits;

/** How a restore treats what the archive says about symlinks, owners and set-id bits. */
export interface RestorePolicy {
  /**
   * "contained" (default) refuses symlinks whose target resolves outside the restore target,
   * absolute ones included. "inert" restores any symlink target as data: extraction never writes
   * through a symlink either way, so such links cannot cause writes outside the target; use it
   * where workspaces legitimately hold absolute links (e.g. Python virtualenvs).
   */
  symlinks?: "contained" | "inert" | undefined;
  /**
   * The owner of everything restored, whatever the archive says (the workspace's uid/gid): an
   * archive cannot make a restore running as root create files owned by root or anyone else.
   */
  owner?: { uid: number; gid: number } | undefined;
  /**
   * Restore setuid/setgid bits of regular files as archived. Off by default: the content may not
   * be on a nosuid mount, and an archive must not be able to plant a set-id program.
   */
  keepSetid?: boolean | undefined;
}

export interface SafeExtractOptions extends ExtractLimits, RestorePolicy {
  /** on-disk id = stored id + idShift. */
  idShift?: number | undefined;
  /**
   * Apply ownership; defaults to true when running as root (it would fail otherwise): `owner`
   * when set, else the stored ids (shifted by idShift).
   */
  chown?: boolean | undefined;
}

/** The parsed header fields the extractor needs. */
export interface ParsedTarHeader {
  name: string;
  type?: string | null;
  size?: number;
  mode?: number;
  /** Seconds since the epoch, with the fraction a pax header gave. */
  mtimeSeconds?: number;
  uid?: number;
  gid?: number;
  linkname?: string | null;
  /** pax extended header records, if any (already applied to the fields above by the parser). */
  pax?: unknown;
  /**
   * A sparse file: its size with holes and where its data goes; `size` is then the data bytes
   * that follow, segment after segment.
   */
  sparse?: { realSize: number; segments: readonly Segment[] };
}

interface DirMeta {
  rel: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

const CREATE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const SETID_BITS = 0o6000;

/**
 * Writes tar entries into an initially empty directory and refuses anything that could write
 * outside it. The guarantees rest on: entry paths are normalized and may not contain ".." or be
 * absolute; every parent of an entry must be a directory this extraction knows (never a symlink it
 * created — the target started empty, so no other symlinks exist); files are created with
 * O_EXCL|O_NOFOLLOW; hard links may only point at regular files extracted earlier; symlink targets
 * are checked against the final set of symlinks once all entries are in (order-independent).
 */
export class SafeExtractor implements TarParserHandler {
  private readonly knownDirs = new Set<string>([""]);
  private readonly symlinks = new Map<string, string>();
  private readonly regularFiles = new Set<string>();
  private readonly dirs: DirMeta[] = [];
  private readonly chownEnabled: boolean;
  private readonly idShift: number;
  private readonly budget: LimitBudget;
  /** The regular file whose content is being written, between entry() and its sink's end(). */
  private openFile: number | undefined;

  constructor(
    private readonly root: string,
    private readonly options: SafeExtractOptions = {},
  ) {
    this.chownEnabled = options.chown ?? process.getuid?.() === 0;
    this.idShift = options.idShift ?? 0;
    this.budget = new LimitBudget(archiveLimitsOf(options));
  }

  /** Entries taken so far. */
  get entries(): number {
    return this.budget.entries;
  }

  /** Content bytes of the files taken so far (holes excluded). */
  get contentBytes(): number {
    return this.budget.contentBytes;
  }

  /**
   * Takes one entry (TarParserHandler): creates it, or throws HostileArchiveError. A regular file
   * comes back as the sink its content must be written to; everything else carries no content.
   */
  entry(header: ParsedTarHeader): EntryBodySink | undefined {
    const name = header.name;
    if (this.openFile) throw new Error(`entry ${name} started before the previous file ended`);
    const rel = normalizeEntryPath(name);
    const violation = this.budget.entry(rel);
    if (violation) throw new HostileArchiveError(name, violation.reason);
    const meta = this.metaOf(header, rel);
    switch (header.type) {
      case "directory":
        this.addDirectory(rel, meta);
        return undefined;
      case "file":
      case "contiguous-file":
        return this.addFile(rel, header.size ?? 0, meta, header.sparse);
      case "symlink":
        this.addSymlink(rel, header.linkname ?? "", meta);
        return undefined;
      case "link":
        this.addHardlink(rel, header.linkname ?? "");
        return undefined;
      default:
        throw new HostileArchiveError(
          name,
          `entry type ${header.type ?? "unknown"} is not allowed`,
        );
    }
  }

  /** Closes the file being written, if any (after a failure; the caller removes what was written). */
  abort(): void {
    if (this.openFile === undefined) return;
    const fd = this.openFile;
    this.openFile = undefined;
    try {
      closeSync(fd);
    } catch {
      // nothing more to release
    }
  }

  /** Applies directory metadata (after all children exist) and validates symlink targets. */
  finish(): void {
    if (this.options.symlinks !== "inert") {
      for (const [rel, target] of this.symlinks) {
        if (symlinkEscapes(this.symlinks, rel, target)) {
          throw new HostileArchiveError(
            rel,
            `symlink target ${JSON.stringify(target)} leaves the restore target through other symlinks`,
          );
        }
      }
    }
    // children before their parents, the root last (a child's path is longer than its parent's);
    // order only matters for directories without search permission that we still enter
    const ordered = [...this.dirs].sort((a, b) => b.rel.length - a.rel.length);
    for (const d of ordered) {
      const abs = this.abs(d.rel);
      if (this.chownEnabled) lchownSync(abs, d.uid, d.gid);
      // verified real directories (never symlinks we created), so following is not a concern
      lutimesSync(abs, d.mtime, d.mtime);
      chmodSync(abs, d.mode);
    }
  }

  private abs(rel: string): string {
    return path.join(this.root, rel);
  }

  private metaOf(header: ParsedTarHeader, rel: string): DirMeta {
    const mtime = header.mtimeSeconds ?? Date.now() / 1000;
    const meta = {
      rel,
      mode: (header.mode ?? 0o644) & 0o7777,
      uid: (header.uid ?? 0) + this.idShift,
      gid: (header.gid ?? 0) + this.idShift,
      mtime,
    };
    // ids the kernel can store: 0 .. 2^32-2 (2^32-1 means "unchanged" to chown)
    const validId = (id: number) => Number.isInteger(id) && id >= 0 && id <= 0xfffffffe;
    if (!validId(meta.uid) || !validId(meta.gid) || !Number.isFinite(mtime)) {
      throw new HostileArchiveError(header.name, "invalid uid, gid or mtime");
    }
    return { ...meta, ...this.options.owner };
  }

  /**
   * Creates the missing parents of `rel`, one by one; refuses parents that are symlinks or files
   * from this archive. Nothing else exists in the target (it started empty), so creating one that
   * this extraction does not know fails.
   */
  private ensureParent(rel: string, name: string): void {
    const parents = rel.split("/").slice(0, -1);
    let prefix = "";
    for (const seg of parents) {
      prefix = prefix === "" ? seg : `${prefix}/${seg}`;
      if (this.knownDirs.has(prefix)) continue;
      if (this.symlinks.has(prefix)) {
        throw new HostileArchiveError(
          name,
          `parent ${prefix} is a symlink; refusing to write through it`,
        );
      }
      if (this.regularFiles.has(prefix)) {
        throw new HostileArchiveError(name, `parent ${prefix} is a file`);
      }
      this.makeDirectory(prefix, 0o755);
    }
  }

  private makeDirectory(rel: string, mode: number): void {
    try {
      mkdirSync(this.abs(rel), { mode });
    } catch (err) {
      throw conflict(rel, err);
    }
    this.knownDirs.add(rel);
  }

  /** A directory entry; its metadata is applied by finish(), once its children are in. */
  private addDirectory(rel: string, meta: DirMeta): void {
    if (this.symlinks.has(rel) || this.regularFiles.has(rel)) {
      throw new HostileArchiveError(rel, "directory conflicts with an earlier entry");
    }
    this.ensureParent(rel, rel);
    // the root and directories listed before (or created as parents) exist already
    if (!this.knownDirs.has(rel)) this.makeDirectory(rel, 0o700);
    this.dirs.push(meta);
  }

  private addFile(
    rel: string,
    size: number,
    meta: DirMeta,
    sparse: ParsedTarHeader["sparse"],
  ): EntryBodySink {
    if (rel === "") throw new HostileArchiveError(rel, "a file cannot replace the restore target");
    const violation = this.budget.file(sparse?.realSize ?? size, size);
    if (violation) throw new HostileArchiveError(rel, violation.reason);
    this.ensureParent(rel, rel);
    let fd: number;
    try {
      fd = openSync(this.abs(rel), CREATE_FLAGS, 0o600);
    } catch (err) {
      throw conflict(rel, err);
    }
    this.openFile = fd;
    const mode = this.options.keepSetid ? meta.mode : meta.mode & ~SETID_BITS;
    return fileSink(fd, sparse, () => {
      this.openFile = undefined;
      this.regularFiles.add(rel);
      return { ...meta, mode, chown: this.chownEnabled };
    });
  }

  private addSymlink(rel: string, target: string, meta: DirMeta): void {
    if (rel === "")
      throw new HostileArchiveError(rel, "a symlink cannot replace the restore target");
    if (target === "" || target.includes("\0"))
      throw new HostileArchiveError(rel, "empty or invalid symlink target");
    if (this.options.symlinks !== "inert") {
      // early, clear refusal for the obvious cases; finish() catches chains through other symlinks
      if (path.posix.isAbsolute(target)) {
        throw new HostileArchiveError(
          rel,
          `absolute symlink target ${JSON.stringify(target)} leaves the restore target`,
        );
      }
      const lexical = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
      if (lexical === ".." || lexical.startsWith("../")) {
        throw new HostileArchiveError(
          rel,
          `symlink target ${JSON.stringify(target)} leaves the restore target`,
        );
      }
    }
    this.ensureParent(rel, rel);
    const abs = this.abs(rel);
    try {
      symlinkSync(target, abs);
    } catch (err) {
      throw conflict(rel, err);
    }
    this.symlinks.set(rel, target);
    if (this.chownEnabled) lchownSync(abs, meta.uid, meta.gid);
    lutimesSync(abs, meta.mtime, meta.mtime);
  }

  private addHardlink(rel: string, linkname: string): void {
    if (rel === "")
      throw new HostileArchiveError(rel, "a hard link cannot replace the restore target");
    let targetRel: string;
    try {
      targetRel = normalizeEntryPath(linkname);
    } catch {
      throw new HostileArchiveError(
        rel,
        `hard link target ${JSON.stringify(linkname)} leaves the restore target`,
      );
    }
    if (!this.regularFiles.has(targetRel)) {
      throw new HostileArchiveError(
        rel,
        `hard link target ${JSON.stringify(linkname)} is not a regular file extracted earlier from this archive`,
      );
    }
    this.ensureParent(rel, rel);
    try {
      linkSync(this.abs(targetRel), this.abs(rel));
    } catch (err) {
      throw conflict(rel, err);
    }
    this.regularFiles.add(rel);
  }
}

/**
 * Whether the symlink at `linkRel` pointing at `target` leaves the root when resolved as the
 * kernel would, through `symlinks` (every symlink of the tree: relative path -> target): at any
 * step, not just lexically ("a/../x" with a -> "." is the parent of the root). A chain of more
 * than 40 links resolves nowhere (the kernel answers ELOOP), so it does not escape.
 */
export function symlinkEscapes(
  symlinks: ReadonlyMap<string, string>,
  linkRel: string,
  target: string,
): boolean {
  let hops = 0;
  const walk = (base: string[], t: string): string[] | null => {
    if (t.startsWith("/")) return null;
    const stack = [...base];
    for (const part of t.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (stack.length === 0) return null;
        stack.pop();
        continue;
      }
      stack.push(part);
      const next = symlinks.get(stack.join("/"));
      if (next !== undefined) {
        if (++hops > 40) return stack;
        stack.pop();
        const resolved = walk(stack, next);
        if (resolved === null) return null;
        stack.splice(0, stack.length, ...resolved);
      }
    }
    return stack;
  };
  const dir = path.posix.dirname(linkRel);
  return walk(dir === "." ? [] : dir.split("/"), target) === null;
}

/**
 * Turns an archive path into a clean relative path ("" for the root), refusing absolute paths,
 * "..", NUL bytes and empty names. "./a//b/" becomes "a/b".
 */
export function normalizeEntryPath(name: string): string {
  if (name === "" || name.includes("\0"))
    throw new HostileArchiveError(name, "empty or invalid path");
  if (name.startsWith("/")) throw new HostileArchiveError(name, "absolute paths are not allowed");
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw new HostileArchiveError(name, '".." is not allowed in paths');
    parts.push(part);
  }
  return parts.join("/");
}

/**
 * EEXIST while creating means the archive tried to reuse a path (every entry is known and the
 * target started empty): hostile or broken. Anything else is the file system's own error.
 */
function conflict(rel: string, err: unknown): Error {
  if ((err as NodeJS.ErrnoException).code === "EEXIST") {
    return new HostileArchiveError(rel, "conflicts with an earlier entry (EEXIST)");
  }
  return err as Error;
}
