import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * The benchmark workspace (BENCH_SCALE=1: ~20k source-like files plus large incompressible files,
 * ~1 GiB in all), shared by the archive and the chunked benchmarks.
 */
const MiB = 1024 * 1024;

const words = [
  "const",
  "let",
  "function",
  "return",
  "import",
  "export",
  "interface",
  "string",
  "number",
  "await",
  "async",
  "if",
  "else",
  "for",
  "while",
  "class",
  "extends",
  "new",
  "this",
  "true",
  "false",
  "null",
  "workspace",
  "content",
  "backup",
  "restore",
  "archive",
  "daemon",
  "status",
  "error",
  "result",
];

/** Text that compresses about like real source code (3-5x with zstd -1). */
export function sourceLike(bytes: number): Buffer {
  const lines: string[] = [];
  let n = 0;
  while (n < bytes) {
    const indent = " ".repeat(2 * Math.floor(Math.random() * 4));
    const count = 3 + Math.floor(Math.random() * 8);
    let line = indent;
    for (let i = 0; i < count; i++) line += words[Math.floor(Math.random() * words.length)] + " ";
    line += `${Math.floor(Math.random() * 100000)};`;
    lines.push(line);
    n += line.length + 1;
  }
  return Buffer.from(lines.join("\n").slice(0, bytes));
}

/** Writes the bench workspace into `root`; returns its bytes. */
export function generateWorkspace(root: string, scale: number): number {
  const smallFiles = Math.round(20_000 * scale);
  const largeFiles = Math.max(1, Math.round(7 * scale));
  let total = 0;
  const pool = Array.from({ length: 64 }, () => sourceLike(64 * 1024));
  for (let i = 0; i < smallFiles; i++) {
    const dir = path.join(root, "src", `pkg${i % 50}`, `mod${Math.floor(i / 50) % 40}`);
    if (i < 2000) mkdirSync(dir, { recursive: true });
    const size = 200 + Math.floor(Math.random() ** 3 * 60_000);
    const base = pool[i % pool.length] as Buffer;
    const off = Math.floor(Math.random() * (base.length - size));
    writeFileSync(path.join(dir, `file${i}.ts`), base.subarray(off, off + size));
    total += size;
  }
  mkdirSync(path.join(root, "assets"), { recursive: true });
  const largeSize = Math.round(((1024 * MiB - total) / largeFiles) * (scale >= 1 ? 1 : 1));
  for (let i = 0; i < largeFiles; i++) {
    const file = path.join(root, "assets", `blob${i}.bin`);
    const chunk = 16 * MiB;
    const target = Math.max(MiB, Math.round(largeSize * Math.min(scale, 1)));
    for (let written = 0; written < target; written += chunk) {
      writeFileSync(file, randomBytes(Math.min(chunk, target - written)), { flag: "a" });
    }
    total += target;
  }
  return total;
}
