import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { WorkspaceRef } from "../../src/storage/index.js";
import { useWorkDir } from "../archive/work-dir.js";
import { chunkedStore, packsOf } from "./chunked-store-suite.js";
import { newWorkspace } from "./content-store-suite.js";
import { useMotoS3 } from "./moto-s3.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const appDir = path.resolve(here, "../..");
const BUCKET = "wsd-chunked-sigkill";
const moto = useMotoS3({ bucket: BUCKET });
const work = useWorkDir("wsd-chunked-sigkill-");
// A writer may publish only within half the grace (its lease): 4 s gave backups of 9 MiB 2 s,
// which a loaded CI machine exceeded (2.4–2.7 s seen), failing the backup rather than the test's
// point. 10 s keeps that margin wide; six rounds keep the wait at about a minute.
const GRACE_MS = 10_000;

/** Runs chunked-child.ts and kills it with SIGKILL `delayMs` after it said "started". */
async function killMidway(
  mode: "backup" | "sweep",
  ws: WorkspaceRef,
  src: string,
  delayMs: number,
): Promise<"killed" | "finished"> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      path.join(here, "chunked-child.ts"),
      mode,
      moto.endpoint,
      BUCKET,
      src,
      ws.owner,
      ws.metaId,
      String(GRACE_MS),
    ],
    { cwd: appDir, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const exited = once(child, "exit");
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("started")) resolve();
    });
    child.on("exit", () => reject(new Error(`child exited before starting: ${stderr}`)));
  });
  await new Promise((r) => setTimeout(r, delayMs));
  child.kill("SIGKILL");
  const [code, signal] = (await exited) as [number | null, string | null];
  if (signal === "SIGKILL") return "killed";
  if (code !== 0) throw new Error(`child failed: ${stderr}`);
  return "finished";
}

describe("chunked backups and sweeps killed with SIGKILL at random points", () => {
  it("never lose the published backup, nor a pack it names", { timeout: 300_000 }, async () => {
    const objects = moto.store();
    const { store } = chunkedStore(objects, { orphanGraceMs: GRACE_MS });
    const ws = newWorkspace();
    const src = work.join("src");
    mkdirSync(src);
    writeFileSync(path.join(src, "stable.bin"), randomBytes(3 * 1024 * 1024));
    const digest = (dir: string) =>
      ["stable.bin", "changing.bin"]
        .map((f) =>
          createHash("sha256")
            .update(readFileSync(path.join(dir, f)))
            .digest("hex"),
        )
        .join(",");
    let published = "";
    const outcomes: string[] = [];
    for (let round = 0; round < 6; round++) {
      writeFileSync(path.join(src, "changing.bin"), randomBytes(6 * 1024 * 1024));
      // what the store holds now is what must survive whatever the children do
      await store.backup(ws, src);
      published = digest(src);
      // garbage for the sweep: the previous rounds' changing.bin, old enough after the wait
      await new Promise((r) => setTimeout(r, GRACE_MS + 200));
      writeFileSync(path.join(src, "changing.bin"), randomBytes(6 * 1024 * 1024));
      const mode = round % 2 === 0 ? "backup" : "sweep";
      const delayMs = Math.floor(Math.random() * 500);
      const outcome = await killMidway(mode, ws, src, delayMs);
      outcomes.push(`${mode}@${delayMs}ms:${outcome}`);
      // the published backup (the one from before, or the child's if it committed) restores
      const out = work.join(`out-${round}`);
      await store.restoreBackup(ws, out);
      const current = await store.readAnyBackupManifest(ws);
      // the child's backup if it reached its commit point, else the one from before
      if (outcome === "finished" && mode === "backup") expect(digest(out)).toBe(digest(src));
      else expect([published, digest(src)]).toContain(digest(out));
      expect(current?.format).toBe("chunked");
    }
    console.log(`SIGKILL points: ${outcomes.join(", ")}`);
    expect(outcomes.some((o) => o.endsWith("killed"))).toBe(true);
    // what the killed children left (packs, leases, indexes) and the replaced backup's own
    // chunks go in a sweep past the grace, and the backup stays whole
    writeFileSync(path.join(src, "changing.bin"), randomBytes(6 * 1024 * 1024));
    await store.backup(ws, src);
    published = digest(src);
    await new Promise((r) => setTimeout(r, GRACE_MS + 200));
    const before = (await packsOf(objects, ws)).length;
    await store.sweep(GRACE_MS);
    expect((await packsOf(objects, ws)).length).toBeLessThan(before);
    await store.restoreBackup(ws, work.join("final"));
    expect(digest(work.join("final"))).toBe(published);
  });
});
