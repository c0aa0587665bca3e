/**
 * storage_quota_bytes through the daemon: the kernel stops writes beyond the quota once the
 * workspace is AVAILABLE, and dispose lifts it. Root only (loop devices / XFS quota).
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";

import { isRoot } from "../support/env.js";

if (!isRoot)
  console.warn(
    "[storage quota tests] skipped: enforcing a quota needs root (loop devices, mounts)",
  );

describe.skipIf(!isRoot)("storage quota", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(() => d?.stop());

  it("lets a workspace write up to its quota and not beyond", async () => {
    const { content } = d.clients();
    const quota = 8 * 1024 * 1024;
    await content.initWorkspace({
      id: "ws-quota",
      metadata: { owner: "o", metaId: "q" },
      initializer: { spec: { case: "empty", value: {} } },
      storageQuotaBytes: BigInt(quota),
    });
    const dir = d.daemon.manager.contentDir("ws-quota");
    await writeFile(path.join(dir, "fits.bin"), Buffer.alloc(quota / 2, 1));
    const tooMuch = await writeFile(path.join(dir, "too-much.bin"), Buffer.alloc(quota, 1)).catch(
      (e: NodeJS.ErrnoException) => e,
    );
    expect(tooMuch).toBeInstanceOf(Error);
    expect(["ENOSPC", "EDQUOT"]).toContain((tooMuch as NodeJS.ErrnoException).code);

    await content.disposeWorkspace({ id: "ws-quota" });
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(path.join(d.dir, "workspaces", ".quota", "ws-quota.img"))).toBe(false);
  });

  it("does not limit a workspace without a quota", async () => {
    const { content } = d.clients();
    await content.initWorkspace({
      id: "ws-free",
      metadata: { owner: "o", metaId: "f" },
      initializer: { spec: { case: "empty", value: {} } },
    });
    await writeFile(
      path.join(d.daemon.manager.contentDir("ws-free"), "big.bin"),
      Buffer.alloc(16 * 1024 * 1024, 1),
    );
    await content.disposeWorkspace({ id: "ws-free" });
  });
});
