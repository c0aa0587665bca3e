import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";

const MiB = 1024 * 1024;

/** A sparse file: `size` bytes of holes with data at `at` offsets. */
function sparse(file: string, size: number, at: number[]): void {
  writeFileSync(file, "");
  truncateSync(file, size);
  const fd = openSync(file, "r+");
  for (const offset of at) writeSync(fd, randomBytes(4096), 0, 4096, offset);
  closeSync(fd);
}

/**
 * A tree with everything an archive walk meets: nested and empty directories, small, empty and
 * large (piece-sized) files, names the JavaScript sort and the tar fields treat specially (long,
 * multi-byte, supplementary characters, private-use characters that sort after them, a newline),
 * symlinks (inside, outside, dangling, long, a target that is not UTF-8), hard links (small and
 * large), set-id and sticky modes, times JS rounds (ns fractions, before 1970, past 2262), sparse
 * files, a fifo and a socket; as root also devices and owners around an id shift.
 */
export function ordinaryTree(ws: string, asRoot: boolean): void {
  mkdirSync(path.join(ws, "a", "b", "c"), { recursive: true });
  mkdirSync(path.join(ws, "empty"));
  writeFileSync(path.join(ws, "a", "small.txt"), "hello\n");
  writeFileSync(path.join(ws, "zero"), "");
  writeFileSync(path.join(ws, "a", "b", "mid.bin"), randomBytes(100_000));
  writeFileSync(path.join(ws, "big1.bin"), randomBytes(3 * MiB));
  writeFileSync(path.join(ws, "big2.bin"), randomBytes(MiB));
  mkdirSync(path.join(ws, "a", "c-many"));
  for (let i = 0; i < 300; i++)
    writeFileSync(path.join(ws, "a", "c-many", `f${i}`), `${i}`, { flag: "w" });
  for (const name of [
    "é-accent",
    "日本語",
    "emoji-😀",
    "\uE000-private",
    "\uFFFD-literal",
    "with\nnewline",
    "sp ace",
  ])
    writeFileSync(path.join(ws, name), name);
  writeFileSync(path.join(ws, "n".repeat(200)), "long name");
  writeFileSync(path.join(ws, "日".repeat(60)), "long multi-byte name");
  const deep = path.join(ws, "d".repeat(60), "e".repeat(60), "f".repeat(60));
  mkdirSync(deep, { recursive: true });
  writeFileSync(path.join(deep, "deep.txt"), "deep");
  symlinkSync("a/small.txt", path.join(ws, "link-rel"));
  symlinkSync("/etc/passwd", path.join(ws, "link-abs"));
  symlinkSync("nowhere", path.join(ws, "link-dangling"));
  symlinkSync("x/".repeat(80), path.join(ws, "link-long"));
  symlinkSync(
    Buffer.from([0x62, 0x61, 0x64, 0xff, 0xc3, 0x28, 0x2f, 0xed, 0xa0, 0x80]),
    path.join(ws, "link-not-utf8"),
  );
  linkSync(path.join(ws, "a", "small.txt"), path.join(ws, "hard2"));
  linkSync(path.join(ws, "a", "small.txt"), path.join(ws, "a", "b", "hard3"));
  linkSync(path.join(ws, "big1.bin"), path.join(ws, "big-link"));
  writeFileSync(path.join(ws, "setuid"), "#!/bin/sh\n");
  chmodSync(path.join(ws, "setuid"), 0o4755);
  mkdirSync(path.join(ws, "setgid-dir"));
  chmodSync(path.join(ws, "setgid-dir"), 0o2775);
  mkdirSync(path.join(ws, "sticky"));
  chmodSync(path.join(ws, "sticky"), 0o1777);
  writeFileSync(path.join(ws, "no-access"), "secret");
  chmodSync(path.join(ws, "no-access"), 0);
  const touch = (name: string, date: string) => {
    writeFileSync(path.join(ws, name), name);
    execFileSync("touch", ["-h", "-d", date, path.join(ws, name)]);
  };
  touch("t-ns", "2021-05-05 12:34:56.123456789");
  touch("t-before-1970", "1960-01-01 00:00:00.5");
  touch("t-whole-second", "2020-01-01 00:00:00");
  touch("t-far", "2400-01-01 00:00:00.000000001");
  sparse(path.join(ws, "sparse.bin"), 10 * MiB, [MiB, 5 * MiB]);
  sparse(path.join(ws, "sparse-data-at-end.bin"), 4 * MiB, [4 * MiB - 4096]);
  sparse(path.join(ws, "all-holes.bin"), 8 * MiB, []);
  execFileSync("mkfifo", [path.join(ws, "pipe")]);
  execFileSync("python3", [
    "-c",
    "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])",
    path.join(ws, "sock"),
  ]);
  if (!asRoot) return;
  execFileSync("mknod", [path.join(ws, "chardev"), "c", "1", "3"]);
  execFileSync("mknod", [path.join(ws, "blockdev"), "b", "7", "0"]);
  chownSync(path.join(ws, "a", "small.txt"), 100_000, 100_000);
  chownSync(path.join(ws, "a", "b"), 100_500, 100);
  chownSync(path.join(ws, "big1.bin"), 5_000_000, 5_000_000);
  chownSync(path.join(ws, "setuid"), 101_000, 101_000);
  // chown clears set-id bits
  chmodSync(path.join(ws, "setuid"), 0o6755);
}
