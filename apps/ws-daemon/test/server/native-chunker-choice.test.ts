import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nativeChunker } from "../../src/wiring/index.js";

const dir = mkdtempSync(path.join(tmpdir(), "wsd-chunker-choice-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function recorder() {
  const lines: { level: string; msg: string }[] = [];
  return { lines, log: (level: string, msg: string) => void lines.push({ level, msg }) };
}

describe("the choice of chunker at start", () => {
  it("uses a configured executable and says so once for the chunked format", () => {
    const bin = path.join(dir, "wsd-chunker");
    writeFileSync(bin, "#!/bin/sh\n");
    chmodSync(bin, 0o755);
    const r = recorder();
    expect(nativeChunker("chunked", bin, r.log)).toEqual({ chunkerPath: bin });
    expect(r.lines).toEqual([
      { level: "info", msg: `chunked backups use the native chunker ${bin}` },
    ]);
  });

  it("falls back to the JavaScript chunker with a warning when the configured file cannot run", () => {
    const notExecutable = path.join(dir, "plain");
    writeFileSync(notExecutable, "");
    const r = recorder();
    expect(nativeChunker("chunked", notExecutable, r.log)).toEqual({});
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]?.level).toBe("warn");
    expect(r.lines[0]?.msg).toMatch(
      /not an executable file; chunked backups use the JavaScript chunker/,
    );
  });

  it("logs nothing about chunkers when the full format is written", () => {
    const r = recorder();
    nativeChunker("tar-zstd", path.join(dir, "missing"), r.log);
    expect(r.lines.filter((l) => l.level === "info")).toEqual([]);
  });
});
