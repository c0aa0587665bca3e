import { chmod, mkdir, readdir, realpath, rm, rmdir, stat, statfs } from "node:fs/promises";
import { join } from "node:path";
import { type RunResult, runChecked } from "../platform/index.js";
import { checkExt4Image, createExt4Image, sizeExt4Image } from "./ext4-image.js";
import { loopBackingFile, mountAt } from "./mount-info.js";
import {
  checkQuotaBytes,
  checkWorkspaceId,
  enforceUnprepared,
  type PrepareQuotaOptions,
  type QuotaEnforcer,
  type QuotaEnforcerOptions,
  type QuotaRecoveryReport,
  type QuotaStatus,
  type QuotaUsage,
  type QuotaWorkspaceRef,
} from "./quota-enforcer.js";
import { QuotaError, toQuotaFailure } from "./quota-error.js";
import type { QuotaRecord } from "./quota-records.js";
import { RecordedQuotaEnforcer } from "./recorded-enforcer.js";

export type LoopImageQuotaOptions = QuotaEnforcerOptions;

/** Workspace content is not meant to hold devices or setuid binaries for the host. */
const MOUNT_OPTIONS = "loop,nosuid,nodev,discard";
const LOST_FOUND = "lost+found";

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

const removeIfEmptyDir = async (path: string): Promise<void> => {
  await rmdir(path).catch(() => undefined);
};

/**
 * Each workspace with a quota gets its own ext4 filesystem in a sparse image
 * `<workingArea>/.quota/<id>.img`, loop-mounted on its content directory: the kernel stops
 * writes at the filesystem's size with ENOSPC, whatever process writes. ext4 cannot shrink while
 * mounted, so `enforce` unmounts, shrinks offline (e2fsck + resize2fs) and mounts again; it must
 * therefore run while nothing else holds the content directory (right after initialization).
 */
export class LoopImageQuotaEnforcer extends RecordedQuotaEnforcer implements QuotaEnforcer {
  readonly method = "loop-image" as const;
  readonly reason: string;

  constructor(private readonly options: LoopImageQuotaOptions) {
    super(options);
    this.reason = options.reason ?? "per-workspace loop-mounted ext4 image";
  }

  imagePath(workspaceId: string): string {
    return join(this.records.dir, `${workspaceId}.img`);
  }

  private status(record: QuotaRecord): QuotaStatus {
    return {
      method: this.method,
      phase: record.phase,
      quotaBytes: record.quotaBytes,
      limitBytes: record.limitBytes,
    };
  }

  async prepare(
    workspaceId: string,
    contentDir: string,
    quotaBytes: number,
    options: PrepareQuotaOptions = {},
  ): Promise<QuotaStatus> {
    checkWorkspaceId(workspaceId);
    checkQuotaBytes(quotaBytes);
    return this.queue.run(workspaceId, async () => {
      if (quotaBytes === 0) {
        await mkdir(contentDir, { recursive: true, mode: 0o755 });
        return { method: this.method, phase: "hard", quotaBytes: 0, limitBytes: 0 };
      }
      const image = this.imagePath(workspaceId);
      const existing = await this.records.get(workspaceId);
      if (existing && (await exists(image))) {
        await this.ensureMounted(existing, contentDir);
        if (existing.quotaBytes === quotaBytes) return this.status(existing);
        // Another quota: a new image, but never at the price of content already written.
        if ((await readdir(contentDir)).length > 0) {
          throw new QuotaError(
            "invalid-argument",
            `${workspaceId} has content under a quota of ${existing.quotaBytes} bytes; release it first`,
          );
        }
      }
      if (existing) await this.releaseLocked(workspaceId, contentDir);

      await mkdir(contentDir, { recursive: true, mode: 0o755 });
      if ((await mountAt(contentDir)) !== undefined) {
        throw new QuotaError("invalid-argument", `${contentDir} is a mount point already`);
      }
      if ((await readdir(contentDir)).length > 0) {
        // Mounting over it would hide these files; they belong in the image.
        throw new QuotaError("invalid-argument", `${contentDir} must be empty before prepare`);
      }
      const { phase, limitBytes: target } = this.initialLimit(quotaBytes, options);
      const record: QuotaRecord = {
        version: 1,
        workspaceId,
        method: this.method,
        quotaBytes,
        phase,
        limitBytes: target,
      };
      // The record comes first: after a crash from here on, release() finds and removes the image.
      await this.records.put(record);
      await rm(image, { force: true });
      const dirStat = await stat(contentDir);
      try {
        await createExt4Image(this.options.runner, image, target, {
          uid: dirStat.uid,
          gid: dirStat.gid,
        });
        await this.mount(image, contentDir);
        await removeIfEmptyDir(join(contentDir, LOST_FOUND));
        await chmod(contentDir, dirStat.mode & 0o7777);
        record.limitBytes = (await this.measure(contentDir)).limitBytes;
        await this.records.put(record);
      } catch (err) {
        await this.releaseLocked(workspaceId, contentDir).catch(() => undefined);
        throw err;
      }
      this.log("info", "workspace quota prepared", { workspaceId, ...this.status(record) });
      return this.status(record);
    });
  }

  async enforce(workspaceId: string, contentDir: string, quotaBytes: number): Promise<QuotaStatus> {
    checkWorkspaceId(workspaceId);
    checkQuotaBytes(quotaBytes);
    return this.queue.run(workspaceId, async () => {
      const record = await this.records.get(workspaceId);
      if (!record) return enforceUnprepared(this.method, workspaceId, quotaBytes);
      if (record.quotaBytes !== quotaBytes) {
        throw new QuotaError(
          "invalid-argument",
          `quota of ${workspaceId} was prepared as ${record.quotaBytes} bytes, not ${quotaBytes}`,
        );
      }
      await this.ensureMounted(record, contentDir);
      if (record.phase === "hard") return this.status(record);

      await this.tool("sync", ["-f", contentDir]);
      const before = await this.measure(contentDir);
      const target = Math.max(quotaBytes, before.usedBytes);
      const hadLostFound = await exists(join(contentDir, LOST_FOUND));
      const image = this.imagePath(workspaceId);
      // Unmounting fails (EBUSY) if anything holds the directory; the workspace then stays lenient.
      await this.tool("umount", [contentDir]);
      try {
        await this.waitUntilDetached(image);
        await checkExt4Image(this.options.runner, image);
        await sizeExt4Image(
          this.options.runner,
          image,
          target,
          before.usedBytes / before.blockSize,
        );
      } finally {
        await this.mount(image, contentDir);
        if (!hadLostFound) await removeIfEmptyDir(join(contentDir, LOST_FOUND));
      }
      record.phase = "hard";
      record.limitBytes = (await this.measure(contentDir)).limitBytes;
      await this.records.put(record);
      this.log("info", "workspace quota enforced", { workspaceId, ...this.status(record) });
      return this.status(record);
    });
  }

  async release(workspaceId: string, contentDir: string): Promise<void> {
    checkWorkspaceId(workspaceId);
    await this.queue.run(workspaceId, () => this.releaseLocked(workspaceId, contentDir));
  }

  private async releaseLocked(workspaceId: string, contentDir: string): Promise<void> {
    const image = this.imagePath(workspaceId);
    const realImage = await realpath(image).catch(() => image);
    const mounted = await mountAt(contentDir);
    if (mounted && (await loopBackingFile(mounted.source)) === realImage) {
      await this.tool("umount", [contentDir]);
    }
    // A loop device left attached without a mount (e.g. a crash inside mount) pins the image.
    if (await exists(image)) {
      for (const device of await this.loopDevices(image)) {
        await this.tool("losetup", ["-d", device]);
      }
    }
    await rm(image, { force: true });
    await this.records.remove(workspaceId);
  }

  async recover(workspaces: readonly QuotaWorkspaceRef[]): Promise<QuotaRecoveryReport> {
    return this.recoverRecorded(workspaces, ({ workspaceId, contentDir }) =>
      this.queue.run(workspaceId, async () => {
        const record = await this.records.get(workspaceId);
        if (record) await this.ensureMounted(record, contentDir);
        return record !== undefined;
      }),
    );
  }

  async usage(workspaceId: string, contentDir: string): Promise<QuotaUsage | undefined> {
    checkWorkspaceId(workspaceId);
    const record = await this.records.get(workspaceId);
    if (!record || !(await this.isMounted(record, contentDir))) return undefined;
    const m = await this.measure(contentDir);
    return { usedBytes: m.usedBytes, limitBytes: m.limitBytes, phase: record.phase };
  }

  private async isMounted(record: QuotaRecord, contentDir: string): Promise<boolean> {
    const mounted = await mountAt(contentDir);
    if (!mounted) return false;
    const image = this.imagePath(record.workspaceId);
    const realImage = await realpath(image).catch(() => image);
    if ((await loopBackingFile(mounted.source)) !== realImage) {
      throw new QuotaError(
        "failed",
        `${contentDir} has a foreign mount (${mounted.source}), not the quota image`,
      );
    }
    return true;
  }

  /** Mounts the image unless it is mounted there already (a restarted daemon finds mounts alive). */
  private async ensureMounted(record: QuotaRecord, contentDir: string): Promise<void> {
    const image = this.imagePath(record.workspaceId);
    if (!(await exists(image))) {
      throw new QuotaError("failed", `quota image of ${record.workspaceId} is missing: ${image}`);
    }
    await mkdir(contentDir, { recursive: true, mode: 0o755 });
    if (await this.isMounted(record, contentDir)) return;
    if ((await readdir(contentDir)).length > 0) {
      throw new QuotaError(
        "failed",
        `${contentDir} holds files outside the quota image; refusing to hide them by mounting over`,
      );
    }
    await this.mount(image, contentDir);
  }

  private async loopDevices(image: string): Promise<string[]> {
    const realImage = await realpath(image).catch(() => image);
    const attached = await this.tool("losetup", ["-j", realImage]);
    return attached.stdout
      .split("\n")
      .map((line) => /^(\/dev\/loop\d+):/.exec(line)?.[1])
      .filter((device): device is string => device !== undefined);
  }

  /**
   * The loop device goes away with the last mount. If it stays, the filesystem is mounted
   * somewhere else too (e.g. bind-mounted into a container) and must not be checked or resized.
   */
  private async waitUntilDetached(image: string): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      if ((await this.loopDevices(image)).length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new QuotaError(
      "failed",
      `${image} is still in use after unmounting (mounted elsewhere?); cannot shrink it`,
    );
  }

  private async mount(image: string, contentDir: string): Promise<void> {
    await this.tool("mount", ["-t", "ext4", "-o", MOUNT_OPTIONS, image, contentDir]);
  }

  private tool(command: string, args: readonly string[]): Promise<RunResult> {
    return runChecked(this.options.runner, command, args, { toError: toQuotaFailure });
  }

  /** statfs on ext4 leaves metadata out of `blocks`; usable = what files hold + what they may still get. */
  private async measure(
    contentDir: string,
  ): Promise<{ usedBytes: number; limitBytes: number; blockSize: number }> {
    const s = await statfs(contentDir);
    const usedBlocks = s.blocks - s.bfree;
    return {
      usedBytes: usedBlocks * s.bsize,
      limitBytes: (usedBlocks + s.bavail) * s.bsize,
      blockSize: s.bsize,
    };
  }
}
