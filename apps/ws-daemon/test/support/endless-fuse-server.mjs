/**
 * A FUSE file system holding one file whose reads never return, served straight over /dev/fuse
 * (no libfuse on this machine): `node endless-fuse-server.mjs <mountpoint> <file name> <size>`.
 * Mounts, prints "ready", then answers every request except READ, which it leaves pending for
 * good. Stop it with SIGKILL (its loop blocks in read(2), where no handler runs): closing
 * /dev/fuse aborts the connection, so a reader stuck in read() gets an error back. Needs root.
 * Test support for the archive deadline (endless-fuse.ts).
 */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readSync, writeSync } from "node:fs";

const [mountpoint, fileName, sizeText] = process.argv.slice(2);
const fileSize = BigInt(sizeText ?? "0");
const ROOT = 1n;
const FILE = 2n;
const ENOENT = 2;
const ENOSYS = 38;
const op = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  OPEN: 14,
  READ: 15,
  RELEASE: 18,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
};

const fuse = openSync("/dev/fuse", "r+");
// the kernel takes the descriptor number in the mounting process: fd 3 of `mount`
const mounted = spawnSync(
  "mount",
  // -i: the kernel's fuse file system directly, never /sbin/mount.fuse (installed with libfuse,
  // e.g. as a dependency of restic), which would try to run a program named "endless"
  [
    "-i",
    "-t",
    "fuse.endless",
    "-o",
    "fd=3,rootmode=40000,user_id=0,group_id=0",
    "endless",
    mountpoint,
  ],
  { stdio: ["ignore", "inherit", "inherit", fuse] },
);
if (mounted.status !== 0) process.exit(1);

/** struct fuse_attr */
function attr(nodeid) {
  const b = Buffer.alloc(88);
  const dir = nodeid === ROOT;
  b.writeBigUInt64LE(nodeid, 0);
  b.writeBigUInt64LE(dir ? 0n : fileSize, 8);
  b.writeBigUInt64LE(dir ? 0n : (fileSize + 511n) / 512n, 16);
  for (const off of [24, 32, 40]) b.writeBigUInt64LE(1_700_000_000n, off);
  b.writeUInt32LE(dir ? 0o040755 : 0o100644, 60);
  b.writeUInt32LE(dir ? 2 : 1, 64);
  b.writeUInt32LE(4096, 80);
  return b;
}

function reply(unique, error, body = Buffer.alloc(0)) {
  const header = Buffer.alloc(16);
  header.writeUInt32LE(16 + body.length, 0);
  header.writeInt32LE(-error, 4);
  header.writeBigUInt64LE(unique, 8);
  writeSync(fuse, Buffer.concat([header, body]));
}

function entryOut(nodeid) {
  const b = Buffer.alloc(40);
  b.writeBigUInt64LE(nodeid, 0);
  return Buffer.concat([b, attr(nodeid)]);
}

function dirents() {
  const out = [];
  let off = 0n;
  for (const [ino, name, type] of [
    [ROOT, ".", 4],
    [ROOT, "..", 4],
    [FILE, fileName, 8],
  ]) {
    const n = Buffer.from(name);
    const e = Buffer.alloc(24 + Math.ceil(n.length / 8) * 8);
    e.writeBigUInt64LE(ino, 0);
    e.writeBigUInt64LE(++off, 8);
    e.writeUInt32LE(n.length, 16);
    e.writeUInt32LE(type, 20);
    n.copy(e, 24);
    out.push(e);
  }
  return out;
}

console.log("ready");
const buf = Buffer.alloc(1024 * 1024 + 4096);
for (;;) {
  let n;
  try {
    n = readSync(fuse, buf, 0, buf.length, null);
  } catch (err) {
    // ENODEV: unmounted
    if (err.code === "ENODEV") break;
    if (err.code === "EINTR" || err.code === "EAGAIN") continue;
    throw err;
  }
  const opcode = buf.readUInt32LE(4);
  const unique = buf.readBigUInt64LE(8);
  const nodeid = buf.readBigUInt64LE(16);
  const body = buf.subarray(40, n);
  switch (opcode) {
    case op.INIT: {
      const out = Buffer.alloc(64);
      out.writeUInt32LE(7, 0);
      out.writeUInt32LE(31, 4);
      out.writeUInt32LE(0, 8);
      out.writeUInt32LE(0, 12);
      out.writeUInt32LE(4096, 20);
      out.writeUInt32LE(1, 24);
      reply(unique, 0, out);
      break;
    }
    case op.LOOKUP: {
      const name = body.toString("utf8", 0, body.indexOf(0));
      if (nodeid === ROOT && name === fileName) reply(unique, 0, entryOut(FILE));
      else reply(unique, ENOENT);
      break;
    }
    case op.GETATTR: {
      const out = Buffer.alloc(16);
      reply(unique, 0, Buffer.concat([out, attr(nodeid)]));
      break;
    }
    case op.OPEN:
    case op.OPENDIR:
      reply(unique, 0, Buffer.alloc(16));
      break;
    case op.READDIR: {
      const offset = body.readBigUInt64LE(8);
      const size = body.readUInt32LE(16);
      const all = dirents().slice(Number(offset));
      const fitting = [];
      let bytes = 0;
      for (const e of all) {
        if (bytes + e.length > size) break;
        fitting.push(e);
        bytes += e.length;
      }
      reply(unique, 0, Buffer.concat(fitting));
      break;
    }
    case op.READ:
      // never answered: the reader waits for good
      break;
    case op.RELEASE:
    case op.RELEASEDIR:
    case op.FLUSH:
      reply(unique, 0);
      break;
    case op.FORGET:
    case op.BATCH_FORGET:
    case op.INTERRUPT:
      break;
    case op.DESTROY:
      closeSync(fuse);
      process.exit(0);
      break;
    default:
      reply(unique, ENOSYS);
  }
}
