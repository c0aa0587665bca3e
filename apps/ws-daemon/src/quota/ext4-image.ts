import { open, truncate } from "node:fs/promises";
import { type ProcessRunner, runChecked } from "../platform/index.js";
import { QuotaError, toQuotaFailure } from "./quota-error.js";

export interface Ext4Geometry {
  blockSize: number;
  blockCount: number;
  freeBlocks: number;
}

export const parseDumpe2fsHeader = (text: string): Ext4Geometry => {
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s*$`, "m").exec(text);
    if (!match?.[1]) throw new QuotaError("failed", `dumpe2fs output has no "${name}"`);
    return Number(match[1]);
  };
  return {
    blockSize: field("Block size"),
    blockCount: field("Block count"),
    freeBlocks: field("Free blocks"),
  };
};

export const readExt4Geometry = async (
  runner: ProcessRunner,
  image: string,
): Promise<Ext4Geometry> =>
  parseDumpe2fsHeader(
    (await runChecked(runner, "dumpe2fs", ["-h", image], { toError: toQuotaFailure })).stdout,
  );

/**
 * ext4 keeps min(2%, 4096) clusters back from every writer, root included, for metadata of
 * delayed allocations (fs/ext4/super.c ext4_calculate_resv_clusters); writes see ENOSPC before
 * those are touched, so they do not count as usable.
 */
export const reservedBlocks = (blockCount: number): number =>
  Math.min(Math.floor(blockCount / 50), 4096);

/** Bytes files can use: free blocks outside the reserve plus what data already uses. */
export const usableBytes = (g: Ext4Geometry, dataBlocks: number): number =>
  (g.freeBlocks - reservedBlocks(g.blockCount) + dataBlocks) * g.blockSize;

const BLOCK = 4096;
const MIB = 1024 * 1024;

/**
 * Options chosen for workspace content: 4 KiB blocks whatever the size (mke2fs would pick 1 KiB
 * blocks for small images), one inode per 8 KiB (source trees are many small files; the default
 * 16 KiB can run out of inodes before bytes), no root-reserved blocks (the daemon writes as
 * root and must hit the same limit as the workspace user).
 */
const mkfsArgs = (image: string, owner: { uid: number; gid: number }): string[] => [
  "-q",
  "-F",
  "-t",
  "ext4",
  "-b",
  String(BLOCK),
  "-i",
  "8192",
  "-m",
  "0",
  "-E",
  `root_owner=${owner.uid}:${owner.gid}`,
  image,
];

/** A fresh sparse image whose filesystem lets files use at least `usableTarget` bytes. */
export const createExt4Image = async (
  runner: ProcessRunner,
  image: string,
  usableTarget: number,
  owner: { uid: number; gid: number },
): Promise<Ext4Geometry> => {
  // First guess at the overhead (journal, inode tables, reserve); sizeExt4Image corrects it.
  const guess = Math.ceil((usableTarget * 1.06 + 8 * MIB) / BLOCK) * BLOCK;
  const handle = await open(image, "wx", 0o600);
  await handle.close();
  await truncate(image, guess);
  await runChecked(runner, "mkfs.ext4", mkfsArgs(image, owner), { toError: toQuotaFailure });
  return sizeExt4Image(runner, image, usableTarget, 0);
};

/**
 * Resizes the (unmounted, checked) filesystem in `image` until files can use at least
 * `usableTarget` bytes and not much more: the overhead of ext4 grows with its size, so a few
 * rounds of measure-and-correct land within a few blocks of the target. `dataBlocks` is what the
 * content already occupies (from statfs before unmounting), as dumpe2fs cannot tell data from
 * metadata. A shrink stops at resize2fs's own minimum (content larger than the target).
 */
export const sizeExt4Image = async (
  runner: ProcessRunner,
  image: string,
  usableTarget: number,
  dataBlocks: number,
): Promise<Ext4Geometry> => {
  let g = await readExt4Geometry(runner, image);
  // Accept up to 1 MiB (or 0.1%) above the target instead of chasing single blocks.
  const slack = Math.max(MIB, Math.floor(usableTarget / 1000));
  for (let round = 0; round < 8; round++) {
    const usable = usableBytes(g, dataBlocks);
    if (usable >= usableTarget && usable - usableTarget <= slack) return g;
    const deltaBlocks = Math.ceil((usableTarget - usable) / g.blockSize);
    const blocks = g.blockCount + deltaBlocks;
    if (deltaBlocks > 0) {
      await truncate(image, blocks * g.blockSize);
      await runChecked(runner, "resize2fs", [image, String(blocks)], { toError: toQuotaFailure });
    } else {
      const target = Math.max(blocks, await minimumBlocks(runner, image));
      if (target >= g.blockCount) return g;
      await runChecked(runner, "resize2fs", [image, String(target)], { toError: toQuotaFailure });
      await truncate(image, target * g.blockSize);
    }
    g = await readExt4Geometry(runner, image);
  }
  if (usableBytes(g, dataBlocks) < usableTarget) {
    throw new QuotaError("failed", `cannot size ${image} to ${usableTarget} usable bytes`);
  }
  return g;
};

/** resize2fs -P: the smallest size the filesystem can be shrunk to, in blocks. */
const minimumBlocks = async (runner: ProcessRunner, image: string): Promise<number> => {
  const { stdout: out } = await runChecked(runner, "resize2fs", ["-P", image], {
    toError: toQuotaFailure,
  });
  const match = /minimum size of the filesystem:\s*(\d+)/i.exec(out);
  if (!match?.[1]) throw new QuotaError("failed", `unexpected resize2fs -P output: ${out.trim()}`);
  return Number(match[1]);
};

/** e2fsck in preen mode; exit 1 means errors were fixed, which is fine. */
export const checkExt4Image = async (runner: ProcessRunner, image: string): Promise<void> => {
  await runChecked(runner, "e2fsck", ["-f", "-p", image], {
    okCodes: [0, 1],
    toError: toQuotaFailure,
  });
};
