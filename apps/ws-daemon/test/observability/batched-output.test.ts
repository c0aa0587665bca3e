import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { BatchedOutput } from "../../src/observability/index.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempFile(): { file: string; fd: number } {
  const dir = mkdtempSync(path.join(tmpdir(), "wsd-batched-"));
  dirs.push(dir);
  const file = path.join(dir, "out.log");
  return { file, fd: openSync(file, "w") };
}

describe("BatchedOutput", () => {
  it("writes nothing per line, everything in order once the batch is full or flushed", () => {
    const { file, fd } = tempFile();
    const out = new BatchedOutput({ fd, flushMs: 60_000, maxPendingChars: 20 });
    try {
      out.write("one\n");
      expect(readFileSync(file, "utf8")).toBe("");
      out.write("two é\n");
      out.write("three three\n"); // now 22 characters wait: written at once
      expect(readFileSync(file, "utf8")).toBe("one\ntwo é\nthree three\n");
      out.write("four\n");
      out.flush();
      expect(readFileSync(file, "utf8")).toBe("one\ntwo é\nthree three\nfour\n");
    } finally {
      out.close();
      closeSync(fd);
    }
  });

  it("writes waiting lines on its own after flushMs", async () => {
    const { file, fd } = tempFile();
    const out = new BatchedOutput({ fd, flushMs: 20, maxPendingChars: 1 << 20 });
    try {
      out.write("later\n");
      while (readFileSync(file, "utf8") === "") await new Promise((r) => setTimeout(r, 10));
      expect(readFileSync(file, "utf8")).toBe("later\n");
    } finally {
      out.close();
      closeSync(fd);
    }
  });

  it("loses no line when the process exits right after logging (the daemon's stdout logger)", async () => {
    const logger = fileURLToPath(new URL("../../src/observability/logger.ts", import.meta.url));
    const script = `
      import { createLogger } from ${JSON.stringify(logger)};
      const log = createLogger("info", process.stdout, "json");
      for (let i = 0; i < 500; i++) log.info({ i }, "line");
      process.exit(3);
    `;
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    const code = await new Promise((r) => child.on("exit", r));
    expect(code).toBe(3);
    const lines = stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { i: number });
    expect(lines.map((l) => l.i)).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });
});
