/**
 * Encoder for POSIX.1-2001 (pax) tar headers. We write our own instead of using tar-stream's packer
 * because we need exact control of batching and backpressure for throughput, sub-second mtimes and
 * large ids (tar-stream's packer writes neither), and exact file sizes even when a file changes
 * while being read. Every header is a valid ustar header; values that do not fit ustar fields go
 * into a preceding pax extended header ('x'), which GNU tar, bsdtar and tar-stream all understand.
 */

export const BLOCK = 512;

export type TarEntryType = "file" | "hardlink" | "symlink" | "directory";

export interface TarEntryHeader {
  /** Relative path with "/" separators; directories end with "/". */
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Content bytes that follow (files only). */
  size: number;
  /** Modification time in milliseconds since the epoch, fractional part kept. */
  mtimeMs: number;
  linkname?: string;
  /**
   * A sparse file (GNU sparse 1.0, see sparse-map.ts): `size` is what follows the header (map
   * plus data), realSize the file's size with its holes.
   */
  sparse?: { realSize: number };
}

const TYPEFLAG: Record<TarEntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  directory: "5",
};

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

/** Bytes of zero padding after `size` content bytes. */
export const paddingFor = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

/** Encodes the header block(s) of one entry, including a pax header when ustar cannot hold it. */
export function encodeEntryHeader(h: TarEntryHeader): Buffer {
  const pax: [string, string][] = [];
  const nameBytes = Buffer.byteLength(h.name);
  if (h.sparse) {
    pax.push(
      ["GNU.sparse.major", "1"],
      ["GNU.sparse.minor", "0"],
      ["GNU.sparse.name", h.name],
      ["GNU.sparse.realsize", String(h.sparse.realSize)],
    );
  } else if (nameBytes > 100) pax.push(["path", h.name]);
  if (h.linkname !== undefined && Buffer.byteLength(h.linkname) > 100) {
    pax.push(["linkpath", h.linkname]);
  }
  if (h.size > MAX_OCTAL_11) pax.push(["size", String(h.size)]);
  if (h.uid > MAX_OCTAL_7) pax.push(["uid", String(h.uid)]);
  if (h.gid > MAX_OCTAL_7) pax.push(["gid", String(h.gid)]);
  const mtimeSec = Math.floor(h.mtimeMs / 1000);
  if (mtimeSec < 0 || mtimeSec > MAX_OCTAL_11 || h.mtimeMs !== mtimeSec * 1000) {
    pax.push(["mtime", formatPaxTime(h.mtimeMs)]);
  }
  const ustar = encodeUstar({
    // GNU tar's stand-in name for a sparse file; readers that know the format use GNU.sparse.name
    name: h.sparse ? `GNUSparseFile.0/${lastSegment(h.name)}` : h.name,
    typeflag: TYPEFLAG[h.type],
    mode: h.mode & 0o7777,
    uid: Math.min(h.uid, MAX_OCTAL_7),
    gid: Math.min(h.gid, MAX_OCTAL_7),
    size: h.size > MAX_OCTAL_11 ? 0 : h.size,
    mtime: Math.min(Math.max(mtimeSec, 0), MAX_OCTAL_11),
    linkname: h.linkname ?? "",
  });
  if (pax.length === 0) return ustar;
  const body = Buffer.from(pax.map(([k, v]) => paxRecord(k, v)).join(""), "utf8");
  const paxHeader = encodeUstar({
    name: "PaxHeaders/" + lastSegment(h.name),
    typeflag: "x",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: Math.min(Math.max(mtimeSec, 0), MAX_OCTAL_11),
    linkname: "",
  });
  return Buffer.concat([paxHeader, body, Buffer.alloc(paddingFor(body.length)), ustar]);
}

/** Seconds with up to 9 fractional digits, as pax wants; tolerant of float noise in mtimeMs. */
function formatPaxTime(ms: number): string {
  const totalNs = BigInt(Math.round(ms * 1e6));
  const sec = totalNs / 1_000_000_000n;
  let frac = totalNs % 1_000_000_000n;
  if (frac < 0n) frac = -frac;
  if (frac === 0n) return sec.toString();
  return `${sec}.${frac.toString().padStart(9, "0").replace(/0+$/, "")}`;
}

/** A pax record is "<len> <key>=<value>\n" where len counts the whole record including itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restLen = Buffer.byteLength(rest);
  let len = restLen + String(restLen).length;
  if (String(len).length + restLen !== len) len = restLen + String(len).length;
  return `${len}${rest}`;
}

function lastSegment(name: string): string {
  const trimmed = name.replace(/\/+$/, "");
  const seg = trimmed.slice(trimmed.lastIndexOf("/") + 1) || "root";
  return truncateUtf8(seg, 80);
}

function truncateUtf8(s: string, maxBytes: number): string {
  const b = Buffer.from(s, "utf8");
  if (b.length <= maxBytes) return s;
  // cutting may split a multi-byte char; the field is informational only when pax overrides it
  return b.subarray(0, maxBytes).toString("utf8");
}

interface UstarFields {
  name: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
}

function encodeUstar(f: UstarFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  writeString(b, f.name, 0, 100);
  writeOctal(b, f.mode, 100, 8);
  writeOctal(b, f.uid, 108, 8);
  writeOctal(b, f.gid, 116, 8);
  writeOctal(b, f.size, 124, 12);
  writeOctal(b, f.mtime, 136, 12);
  b.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  b.write(f.typeflag, 156, 1, "latin1");
  writeString(b, f.linkname, 157, 100);
  b.write("ustar\u000000", 257, 8, "latin1");
  let sum = 0;
  for (const byte of b.subarray(0, BLOCK)) sum += byte;
  b.write(sum.toString(8).padStart(6, "0") + "\u0000 ", 148, 8, "latin1");
  return b;
}

function writeString(b: Buffer, s: string, offset: number, length: number): void {
  const bytes = Buffer.from(s, "utf8");
  bytes.copy(b, offset, 0, Math.min(bytes.length, length));
}

function writeOctal(b: Buffer, value: number, offset: number, length: number): void {
  b.write(
    Math.trunc(value)
      .toString(8)
      .padStart(length - 1, "0") + "\u0000",
    offset,
    length,
    "latin1",
  );
}
