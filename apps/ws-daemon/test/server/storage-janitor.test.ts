import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";

let daemon: TestDaemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

it("sweeps stale leftovers of crashed writers from storage at start and keeps young ones", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "wsd-janitor-"));
  const full = path.join(dir, "storage/workspaces/owner-1/meta-1/backup/full");
  mkdirSync(full, { recursive: true });
  const old = new Date(Date.now() - 3 * 24 * 60 * 60 * 1000);
  const plant = (name: string, aged: boolean) => {
    writeFileSync(path.join(full, name), "left behind");
    if (aged) utimesSync(path.join(full, name), old, old);
  };
  plant("data-20200101T000000000Z-0badc0de.tar.zst", true);
  plant(".tmp-data-20200101T000000000Z-0badc0de.tar.zst-0123456789ab", true);
  plant("data-20200102T000000000Z-00c0ffee.tar.zst", false);

  const started = await startTestDaemon({}, { dir });
  daemon = started;
  const report = await until("the janitor's report", () =>
    started.logs.find((l) => l.msg === "storage janitor swept"),
  );
  expect(report).toMatchObject({ incomplete: 1, orphans: 1 });
  expect(readdirSync(full)).toEqual(["data-20200102T000000000Z-00c0ffee.tar.zst"]);
});

it("can be switched off", async () => {
  daemon = await startTestDaemon({ janitor: { intervalMs: 0 } });
  await new Promise((r) => setTimeout(r, 200));
  expect(daemon.logs.some((l) => String(l.msg).startsWith("storage janitor"))).toBe(false);
});
