import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import * as path from "node:path";
import { OperationPhase, type WatchWorkspaceResponse } from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";

/**
 * The promise: while a 1 GiB backup is restored, progress reaches a watcher at least
 * every 500 ms. The content is 4 files of 256 MiB made of one repeating random MiB, so it is
 * written quickly and compresses well: the restore's time goes into unpacking and writing
 * 1 GiB, which is what the progress has to follow.
 */
const MiB = 1024 * 1024;
const FILES = 4;
const FILE_MIB = 256;
const MAX_GAP_MS = 500;

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(() => d.stop());

async function writeLargeFiles(dir: string): Promise<void> {
  const block = randomBytes(MiB);
  for (let f = 0; f < FILES; f++) {
    const file = await open(path.join(dir, `large-${f}.bin`), "w");
    try {
      for (let i = 0; i < FILE_MIB; i++) await file.write(block);
    } finally {
      await file.close();
    }
  }
}

describe("progress during a 1 GiB restore", () => {
  it(`arrives at least every ${MAX_GAP_MS} ms and ends at the archive's size`, async () => {
    const { content } = d.clients();
    const metadata = { owner: "big", metaId: "gib" };
    await content.initWorkspace({
      id: "ws-gib",
      metadata,
      initializer: { spec: { case: "empty", value: {} } },
    });
    await writeLargeFiles(d.daemon.manager.contentDir("ws-gib"));
    await content.backupWorkspace({ id: "ws-gib" });
    await content.disposeWorkspace({ id: "ws-gib" });

    const received: { at: number; event: WatchWorkspaceResponse }[] = [];
    const watching = (async () => {
      for await (const event of content.watchWorkspace({ id: "ws-gib-2", awaitCreation: true })) {
        received.push({ at: performance.now(), event });
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    await content.initWorkspace({
      id: "ws-gib-2",
      metadata,
      initializer: { spec: { case: "backup", value: {} } },
    });
    const restoreMs = performance.now() - started;
    await watching;

    const restoring = received.filter(
      ({ event: e }) =>
        e.event.case === "progress" && e.event.value.phase === OperationPhase.RESTORING,
    );
    const gaps = restoring.slice(1).map((r, i) => r.at - (restoring[i]?.at ?? r.at));
    const maxGap = Math.max(...gaps);
    const meanGap = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    console.log(
      `1 GiB restore: ${Math.round(restoreMs)} ms, ${restoring.length} progress events, ` +
        `gap max ${Math.round(maxGap)} ms, mean ${Math.round(meanGap)} ms`,
    );
    // a restore this large takes seconds, so there are many reports to judge
    expect(restoring.length).toBeGreaterThanOrEqual(4);
    expect(maxGap).toBeLessThanOrEqual(MAX_GAP_MS);
    const values = restoring.flatMap(({ event: e }) =>
      e.event.case === "progress" ? [e.event.value] : [],
    );
    // the work's own reports, not only the hub's repeats of them (watch-hub.ts, heartbeat)
    expect(new Set(values.map((v) => v.bytesDone)).size).toBeGreaterThanOrEqual(4);
    const last = values.at(-1);
    expect(last?.bytesTotal).toBeGreaterThanOrEqual(BigInt(FILES * FILE_MIB * MiB));
    expect(last?.bytesDone).toBe(last?.bytesTotal);
    expect(last?.filesDone).toBe(last?.filesTotal);
    // it moves forward, and tells a rate and the time left on the way
    expect(values.some((v) => v.bytesPerSecond > 0 && v.etaMs !== undefined)).toBe(true);
    for (let i = 1; i < values.length; i++) {
      expect(values[i]?.bytesDone ?? 0n).toBeGreaterThanOrEqual(values[i - 1]?.bytesDone ?? 0n);
    }
  }, 180_000);
});
