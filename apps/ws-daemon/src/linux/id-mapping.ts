import { constants as fsConstants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { PROC, processStartTime } from "../platform/index.js";
import { invalidArgument, LinuxOpError } from "./errors.js";

export interface IdMapping {
  containerId: number;
  hostId: number;
  size: number;
}

/** Host ids a workspace may be mapped onto, both ends inclusive. */
export interface AllowedHostRange {
  start: number;
  end: number;
}

/** A range as upstream's config writes it: first host id and how many ids. */
export interface HostIdRange {
  start: number;
  size: number;
}

/**
 * Upstream's installer defaults: the workspace root (container 0) on the workspace user 33333,
 * and the rest on 100000..169999. Gitpod's workspacekit asks for exactly
 * `[{0 -> 33333, 1}, {1 -> 100000, 65534}]`, which fits them.
 */
export const DEFAULT_ALLOWED_HOST_RANGES: readonly HostIdRange[] = [
  { start: 33333, size: 1 },
  { start: 100000, size: 70000 },
];

/** `{start, size}` (config) -> `{start, end}` with the end inclusive. */
export const toAllowedRange = (r: HostIdRange): AllowedHostRange => ({
  start: r.start,
  end: r.start + r.size - 1,
});

const describeRanges = (ranges: readonly AllowedHostRange[]) =>
  ranges.length === 1
    ? `the allowed range ${ranges[0]?.start}..${ranges[0]?.end}`
    : `every allowed range (${ranges.map((r) => `${r.start}..${r.end}`).join(", ")})`;

/** user_namespaces(7): at most 340 lines per map since Linux 4.15. */
export const MAX_ID_MAP_LINES = 340;
const MAX_ID = 0xffff_ffff;

function isU32(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= MAX_ID;
}

/**
 * Checks mappings before the kernel sees them: non-empty sizes, ranges that fit in 32 bits, no two
 * container ranges and no two host ranges overlapping, every host range inside one of the
 * `allowed` ranges including its end (upstream checked only the start and the size), and the
 * kernel's line limit.
 */
export function validateIdMappings(
  mappings: readonly IdMapping[],
  allowed: AllowedHostRange | readonly AllowedHostRange[],
): void {
  const ranges: readonly AllowedHostRange[] = "start" in allowed ? [allowed] : allowed;
  if (mappings.length === 0) throw invalidArgument("no id mapping given");
  if (mappings.length > MAX_ID_MAP_LINES) {
    throw invalidArgument(
      `${mappings.length} id mappings exceed the kernel's limit of ${MAX_ID_MAP_LINES}`,
    );
  }
  for (const [i, m] of mappings.entries()) {
    if (!isU32(m.containerId) || !isU32(m.hostId) || !isU32(m.size)) {
      throw invalidArgument(`mapping ${i}: ids and size must be unsigned 32-bit integers`);
    }
    if (m.size === 0) throw invalidArgument(`mapping ${i}: size must not be 0`);
    if (m.containerId + m.size - 1 > MAX_ID || m.hostId + m.size - 1 > MAX_ID) {
      throw invalidArgument(`mapping ${i}: range overflows 32 bits`);
    }
    const hostEnd = m.hostId + m.size - 1;
    if (!ranges.some((r) => m.hostId >= r.start && hostEnd <= r.end)) {
      throw invalidArgument(
        `mapping ${i}: host ids ${m.hostId}..${hostEnd} are outside ${describeRanges(ranges)}`,
      );
    }
  }
  assertDisjoint(mappings, "containerId", "container");
  assertDisjoint(mappings, "hostId", "host");
}

function assertDisjoint(
  mappings: readonly IdMapping[],
  key: "containerId" | "hostId",
  label: string,
): void {
  const sorted = [...mappings].sort((a, b) => a[key] - b[key]);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as IdMapping;
    const cur = sorted[i] as IdMapping;
    if (prev[key] + prev.size > cur[key]) {
      throw invalidArgument(`${label} id ranges overlap at ${cur[key]}`);
    }
  }
}

export type IdMapWriteResult =
  | { ok: true }
  /** The kernel refused the write: errno is its positive error number (e.g. 1 for EPERM). */
  | { ok: false; errno: number; code: string; message: string };

/**
 * Writes /proc/<pid>/uid_map or gid_map in one write(2), as the kernel demands. For gid maps,
 * `denySetgroups` writes "deny" to /proc/<pid>/setgroups first: needed only when the writer lacks
 * CAP_SETGID in the parent namespace, and it stops the workspace from ever calling setgroups(2),
 * so the daemon (which has the capability) leaves it off by default as upstream does.
 *
 * With `startTime` (field 22 of /proc/<pid>/stat as the caller checked it), the files are opened
 * below a /proc/<pid> directory fd whose start time matches: such an fd keeps naming the process
 * it was opened for, also once the number is reused (test/linux/pinned-id-mapping.int.test.ts
 * shows it on the real kernel), so nothing is written into another process. A process that ended
 * or is not the checked one is FAILED_PRECONDITION, with nothing written.
 */
export async function writeIdMapping(
  hostPid: number,
  kind: "uid" | "gid",
  mappings: readonly IdMapping[],
  opts: { denySetgroups?: boolean; procRoot?: string; startTime?: bigint } = {},
): Promise<IdMapWriteResult> {
  const procRoot = opts.procRoot ?? PROC;
  const text = mappings.map((m) => `${m.containerId} ${m.hostId} ${m.size}\n`).join("");
  // the kernel rejects a map write of a page or more
  if (Buffer.byteLength(text) >= 4096)
    throw invalidArgument("id map text exceeds the kernel's 4095-byte limit");
  const dir =
    opts.startTime === undefined
      ? undefined
      : await openCheckedProcDir(procRoot, hostPid, opts.startTime);
  const base = dir === undefined ? `${procRoot}/${hostPid}` : `${PROC}/self/fd/${dir.fd}`;
  try {
    if (kind === "gid" && opts.denySetgroups) await writeOnce(`${base}/setgroups`, "deny");
    await writeOnce(`${base}/${kind}_map`, text);
    return { ok: true };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const code = e.code ?? "EIO";
    const errno = (osConstants.errno as Record<string, number>)[code] ?? 5;
    return {
      ok: false,
      errno,
      code,
      message: `cannot write ${kind}_map of pid ${hostPid}: ${e.message}`,
    };
  } finally {
    await dir?.close();
  }
}

const replaced = (hostPid: number) =>
  new LinuxOpError(
    "failed-precondition",
    `process ${hostPid} ended or is not the process that was checked (its pid was reused); nothing was changed`,
    3,
  );

/**
 * /proc/<pid> as a directory fd, once its start time (read through that fd) is `startTime`: from
 * then on, paths below /proc/self/fd/<fd> are that process's, whatever the number later names.
 */
async function openCheckedProcDir(
  procRoot: string,
  hostPid: number,
  startTime: bigint,
): Promise<FileHandle> {
  const dir = await open(
    `${procRoot}/${hostPid}`,
    fsConstants.O_RDONLY | fsConstants.O_DIRECTORY,
  ).catch(() => {
    throw replaced(hostPid);
  });
  // processStartTime reads <root>/<pid>/stat: here /proc/self/fd/<fd>/stat, the fd's process
  const started = await processStartTime(dir.fd, `${PROC}/self/fd`);
  if (started !== startTime) {
    await dir.close();
    throw replaced(hostPid);
  }
  return dir;
}

async function writeOnce(path: string, text: string): Promise<void> {
  const fh = await open(path, "w");
  try {
    const buf = Buffer.from(text);
    const { bytesWritten } = await fh.write(buf, 0, buf.length);
    if (bytesWritten !== buf.length) throw Object.assign(new Error("short write"), { code: "EIO" });
  } finally {
    await fh.close();
  }
}

/**
 * The mapping Gitpod's workspacekit writes for ring1, for uids and gids alike (RINGS): the
 * workspace's root is the workspace user 33333, every other id n is 100000 + n - 1.
 */
export const WORKSPACEKIT_ID_MAPPING: readonly IdMapping[] = [
  { containerId: 0, hostId: 33333, size: 1 },
  { containerId: 1, hostId: 100000, size: 65534 },
];

/**
 * The host id that `id` is inside a user namespace with `mapping`; undefined when the mapping
 * leaves it unmapped (the kernel shows such ids as the overflow id 65534).
 */
export function hostIdInNamespace(
  id: number,
  mapping: readonly IdMapping[] = WORKSPACEKIT_ID_MAPPING,
): number | undefined {
  const m = mapping.find((r) => id >= r.containerId && id < r.containerId + r.size);
  return m ? m.hostId + (id - m.containerId) : undefined;
}

/**
 * Upstream's ownership rule: content of a user-namespaced workspace belongs to the host ids its
 * user has inside workspacekit's namespace (33333 -> 133332, which ring1 sees as 33333); other
 * workspaces' content belongs to the user's ids themselves.
 */
export function workspaceContentOwner(
  user: { uid: number; gid: number },
  userNamespaced: boolean,
): { uid: number; gid: number } {
  if (!userNamespaced) return { uid: user.uid, gid: user.gid };
  const uid = hostIdInNamespace(user.uid);
  const gid = hostIdInNamespace(user.gid);
  if (uid === undefined || gid === undefined || uid === 0 || gid === 0) {
    throw invalidArgument(
      `the workspace user ${user.uid}:${user.gid} has no host id in workspacekit's user namespace (ids 0..65534 are mapped)`,
    );
  }
  return { uid, gid };
}
