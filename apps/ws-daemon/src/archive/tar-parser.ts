/**
 * A synchronous, push-style tar reader: bytes go in through push(), entries come out through the
 * handler as soon as their header is complete, and file contents stream to the entry's sink without
 * being buffered. Synchronous so an extraction can run in a worker thread with blocking reads and
 * no promise per entry (the async parser cost more than the file system work of a restore).
 *
 * Reads ustar, pax ('x' per entry; 'g' global headers are accepted and ignored), GNU long names
 * ('L'/'K'), GNU base-256 numbers and GNU sparse 1.0 files (sparse-map.ts; the map is read and
 * checked here, the entry then carries it and only the data). Every header's checksum is verified.
 */

import type { ParsedTarHeader } from "./safe-extractor.js";
import { SparseMapError, SparseMapReader } from "./sparse-map.js";
import { BLOCK } from "./tar-header.js";

export class TarFormatError extends Error {
  override name = "TarFormatError";
}

/** Receives one entry's content bytes, in order, exactly `size` of them in all. */
export interface EntryBodySink {
  write(chunk: Buffer): void;
  end(): void;
}

export interface TarParserHandler {
  /** Called per entry; return a sink for its content, or undefined to skip the content. */
  entry(header: ParsedTarHeader): EntryBodySink | undefined;
}

/**
 * pax / GNU long-name bodies are held in memory: all of those in front of one entry together may
 * not exceed this (a real header is a few hundred bytes; many small ones must not add up either).
 */
const MAX_META_BYTES = 1024 * 1024;

const TYPES: Record<string, string> = {
  "0": "file",
  "\0": "file",
  "1": "link",
  "2": "symlink",
  "3": "character-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
  "7": "contiguous-file",
  x: "pax-header",
  g: "pax-global-header",
  L: "gnu-long-path",
  K: "gnu-long-link-path",
};

type State =
  | { kind: "header" }
  | { kind: "body"; remaining: number; padding: number; sink: EntryBodySink | undefined }
  | { kind: "meta"; type: string; remaining: number; padding: number; parts: Buffer[] }
  | { kind: "padding"; remaining: number }
  | {
      kind: "sparse-map";
      header: ParsedTarHeader;
      map: SparseMapReader;
      /** Bytes of the entry: map plus data. */
      size: number;
    }
  | { kind: "ended" };

export class TarParser {
  private state: State = { kind: "header" };
  /** A header block split across pushes. */
  private partial = Buffer.alloc(BLOCK);
  private partialUsed = 0;
  private pax: Record<string, string> | undefined;
  private longPath: string | undefined;
  private longLink: string | undefined;
  /** Bytes of pax / long-name headers since the last real entry. */
  private metaBytes = 0;
  /** Zero blocks seen in a row: two end the archive. */
  private zeroBlocks = 0;

  constructor(private readonly handler: TarParserHandler) {}

  /** True once the end-of-archive marker was read; later bytes are ignored. */
  get ended(): boolean {
    return this.state.kind === "ended";
  }

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      const s = this.state;
      switch (s.kind) {
        case "ended":
          return;
        case "header": {
          if (this.partialUsed === 0 && chunk.length - off >= BLOCK) {
            this.header(chunk.subarray(off, off + BLOCK));
            off += BLOCK;
          } else {
            const n = chunk.copy(
              this.partial,
              this.partialUsed,
              off,
              off + BLOCK - this.partialUsed,
            );
            this.partialUsed += n;
            off += n;
            if (this.partialUsed === BLOCK) {
              this.partialUsed = 0;
              this.header(this.partial);
            }
          }
          break;
        }
        case "body": {
          const n = Math.min(s.remaining, chunk.length - off);
          if (n > 0) s.sink?.write(chunk.subarray(off, off + n));
          off += n;
          s.remaining -= n;
          if (s.remaining === 0) {
            s.sink?.end();
            this.state =
              s.padding > 0 ? { kind: "padding", remaining: s.padding } : { kind: "header" };
          }
          break;
        }
        case "meta": {
          const n = Math.min(s.remaining, chunk.length - off);
          // copied: the caller reuses its read buffer
          s.parts.push(Buffer.from(chunk.subarray(off, off + n)));
          off += n;
          s.remaining -= n;
          if (s.remaining === 0) {
            this.meta(s.type, Buffer.concat(s.parts));
            this.state =
              s.padding > 0 ? { kind: "padding", remaining: s.padding } : { kind: "header" };
          }
          break;
        }
        case "sparse-map": {
          const n = chunk.copy(this.partial, this.partialUsed, off, off + BLOCK - this.partialUsed);
          this.partialUsed += n;
          off += n;
          if (this.partialUsed === BLOCK) {
            this.partialUsed = 0;
            this.sparseMapBlock(s, this.partial);
          }
          break;
        }
        case "padding": {
          const n = Math.min(s.remaining, chunk.length - off);
          off += n;
          s.remaining -= n;
          if (s.remaining === 0) this.state = { kind: "header" };
          break;
        }
      }
    }
  }

  /** Call at the end of input: throws if it stopped inside an entry or its headers. */
  end(): void {
    if (this.state.kind === "ended") return;
    // a missing end-of-archive marker is tolerated (as by GNU tar); a cut entry is not
    const between =
      this.state.kind === "header" &&
      this.partialUsed === 0 &&
      this.pax === undefined &&
      this.longPath === undefined &&
      this.longLink === undefined;
    if (!between) throw new TarFormatError("Unexpected end of data");
  }

  private header(block: Buffer): void {
    if (isZeroBlock(block)) {
      if (++this.zeroBlocks >= 2) this.state = { kind: "ended" };
      return;
    }
    // a lone zero block is skipped, as GNU tar and tar-stream do
    this.zeroBlocks = 0;
    verifyChecksum(block);
    const typeflag = String.fromCharCode(block.readUInt8(156));
    let type = TYPES[typeflag] ?? `unknown (${JSON.stringify(typeflag)})`;
    const size = readNumber(block, 124, 12, "size");
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;

    if (
      type === "pax-header" ||
      type === "pax-global-header" ||
      type === "gnu-long-path" ||
      type === "gnu-long-link-path"
    ) {
      this.metaBytes += size;
      if (this.metaBytes > MAX_META_BYTES) {
        throw new TarFormatError(`extended headers of ${this.metaBytes} bytes are too large`);
      }
      this.state =
        size > 0 ? { kind: "meta", type, remaining: size, padding, parts: [] } : { kind: "header" };
      if (size === 0) this.meta(type, Buffer.alloc(0));
      return;
    }

    const magic = block.toString("latin1", 257, 263);
    let name = readString(block, 0, 100);
    // POSIX ustar splits long names into prefix + name; the old GNU format uses that space otherwise
    if (magic === "ustar\0") {
      const prefix = readString(block, 345, 155);
      if (prefix !== "") name = `${prefix}/${name}`;
    }
    let linkname = readString(block, 157, 100);
    if (this.longPath !== undefined) name = this.longPath;
    if (this.longLink !== undefined) linkname = this.longLink;
    const pax = this.pax;
    if (pax?.path !== undefined) name = pax.path;
    if (pax?.linkpath !== undefined) linkname = pax.linkpath;
    const entrySize = pax?.size !== undefined ? paxInteger(pax, "size") : size;
    const sparse = pax?.["GNU.sparse.major"] === "1" && pax["GNU.sparse.minor"] === "0";
    if (sparse) {
      const sparseName = pax["GNU.sparse.name"];
      if (sparseName === undefined) throw new TarFormatError("sparse file without GNU.sparse.name");
      name = sparseName;
    }
    // pre-POSIX archives mark directories only by a trailing slash
    if (type === "file" && name.endsWith("/")) type = "directory";
    this.pax = undefined;
    this.longPath = undefined;
    this.longLink = undefined;
    this.metaBytes = 0;

    const header: ParsedTarHeader = {
      name,
      type,
      size: entrySize,
      mode: readNumber(block, 100, 8, "mode"),
      uid: pax?.uid !== undefined ? paxInteger(pax, "uid") : readNumber(block, 108, 8, "uid"),
      gid: pax?.gid !== undefined ? paxInteger(pax, "gid") : readNumber(block, 116, 8, "gid"),
      mtimeSeconds:
        pax?.mtime !== undefined ? paxTime(pax.mtime) : readNumber(block, 136, 12, "mtime"),
      linkname: linkname === "" ? null : linkname,
      pax: pax ?? null,
    };
    if (sparse) {
      const realSize = paxInteger(pax, "GNU.sparse.realsize");
      this.state = {
        kind: "sparse-map",
        header,
        map: new SparseMapReader(realSize),
        size: entrySize,
      };
      return;
    }
    this.startBody(header, entrySize);
  }

  /** Hands the entry to the handler; `stored` content bytes follow (then padding to a block). */
  private startBody(header: ParsedTarHeader, stored: number): void {
    const entrySize = header.size ?? 0;
    const sink = this.handler.entry(header);
    const padding = (BLOCK - (stored % BLOCK)) % BLOCK;
    if (entrySize === 0) {
      sink?.end();
      this.state = padding > 0 ? { kind: "padding", remaining: padding } : { kind: "header" };
    } else {
      this.state = { kind: "body", remaining: entrySize, padding, sink };
    }
  }

  /** One block of a sparse file's map; once complete, the entry starts with the data after it. */
  private sparseMapBlock(s: Extract<State, { kind: "sparse-map" }>, block: Buffer): void {
    let complete: boolean;
    try {
      complete = s.map.push(block);
    } catch (err) {
      if (err instanceof SparseMapError)
        throw new TarFormatError(`${s.header.name}: ${err.message}`);
      throw err;
    }
    const dataBytes = s.size - s.map.bytes;
    if (!complete) {
      if (dataBytes <= 0)
        throw new TarFormatError(`${s.header.name}: sparse map runs past its entry`);
      return;
    }
    if (dataBytes !== s.map.dataBytes) {
      throw new TarFormatError(
        `${s.header.name}: sparse map names ${s.map.dataBytes} data bytes, the entry holds ${dataBytes}`,
      );
    }
    this.startBody(
      {
        ...s.header,
        size: dataBytes,
        sparse: { realSize: s.map.realSize, segments: s.map.segments },
      },
      s.size,
    );
  }

  private meta(type: string, body: Buffer): void {
    switch (type) {
      case "pax-header":
        this.pax = Object.assign(this.pax ?? {}, parsePax(body));
        return;
      case "gnu-long-path":
        this.longPath = readString(body, 0, body.length);
        return;
      case "gnu-long-link-path":
        this.longLink = readString(body, 0, body.length);
        return;
      default:
        // global pax headers (e.g. the commit id `git archive` writes) carry nothing we restore
        parsePax(body);
    }
  }
}

/** A pax number as POSIX writes it: decimal digits only ("", "0x5", "1e3" are refused). */
function paxInteger(pax: Record<string, string>, key: string): number {
  const text = pax[key] ?? "";
  const value = Number(text);
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(value)) {
    throw new TarFormatError(`invalid pax ${key} ${JSON.stringify(text)}`);
  }
  return value;
}

/** Seconds since the epoch, optionally negative and with a fraction ("1700000000.5"). */
function paxTime(text: string): number {
  if (!/^-?\d{1,16}(\.\d{1,9})?$/.test(text)) {
    throw new TarFormatError(`invalid pax mtime ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i += 8) {
    if (block.readBigUInt64LE(i) !== 0n) return false;
  }
  return true;
}

function verifyChecksum(block: Buffer): void {
  const stored = readNumber(block, 148, 8, "checksum");
  let unsigned = 0;
  let signed = 0;
  let i = 0;
  for (const byte of block.subarray(0, BLOCK)) {
    const b = i >= 148 && i < 156 ? 0x20 : byte;
    i++;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  // some historic writers summed signed bytes; both are accepted, like GNU tar does
  if (stored !== unsigned && stored !== signed) {
    throw new TarFormatError(
      "Invalid tar header: checksum mismatch (corrupted or not a tar stream)",
    );
  }
}

function readString(b: Buffer, offset: number, length: number): string {
  let end = offset;
  const max = offset + length;
  while (end < max && b[end] !== 0) end++;
  return b.toString("utf8", offset, end);
}

/** Octal (NUL/space terminated) or GNU base-256 (high bit of the first byte set). */
function readNumber(b: Buffer, offset: number, length: number, field: string): number {
  const first = b.readUInt8(offset);
  if (first & 0x80) {
    if (first === 0xff) throw new TarFormatError(`negative ${field} in tar header`);
    let value = first & 0x7f;
    for (const byte of b.subarray(offset + 1, offset + length)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value))
      throw new TarFormatError(`${field} out of range in tar header`);
    return value;
  }
  let i = offset;
  const end = offset + length;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) {
    if (b[i] === 0) return 0;
    i++;
  }
  let value = 0;
  for (const c of b.subarray(i, end)) {
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw new TarFormatError(`invalid ${field} in tar header`);
    value = value * 8 + (c - 0x30);
  }
  return value;
}

/** "<len> <key>=<value>\n" records; len counts the whole record. */
function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < body.length) {
    if (body[off] === 0) break;
    const space = body.indexOf(0x20, off);
    const len = space > off ? Number(body.toString("latin1", off, space)) : Number.NaN;
    if (!Number.isSafeInteger(len) || len <= space - off || off + len > body.length) {
      throw new TarFormatError("invalid pax extended header");
    }
    const record = body.toString("utf8", space + 1, off + len - 1);
    const eq = record.indexOf("=");
    if (eq <= 0 || body[off + len - 1] !== 0x0a) throw new TarFormatError("invalid pax record");
    out[record.slice(0, eq)] = record.slice(eq + 1);
    off += len;
  }
  return out;
}
