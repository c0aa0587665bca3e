import { closeSync, constants, openSync } from "node:fs";
import { lstat, mkdtemp, readlink, realpath, rmdir, stat } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import {
  CONFINE_FAILURE_EXIT,
  CONFINE_FAILURE_PREFIX,
  CONFINEMENT_SCRIPT,
} from "./confinement-script.js";
import { DomainError } from "./errors.js";
import { scratchDir } from "./fs/process-scratch.js";
import {
  type Confinement,
  type ProcessRunner,
  type RunOptions,
  type RunResult,
  spawnCollecting,
} from "./process.js";

/**
 * Why util-linux (`unshare` + `mount` + `pivot_root` + `setpriv`) and not the native helper:
 * the daemon must keep serving the content API (git clones, the git status at dispose) on
 * machines without a C compiler, where the helper is not built; util-linux is on every Linux
 * node the daemon supports (the image installs it; Debian marks it required). The cost is a few
 * short-lived processes per confined command (a shell, a handful of mounts), which is small
 * next to a git command.
 */

/** The unprivileged identity confined processes run as (the workspace user by default). */
export interface ConfinedIdentity {
  uid: number;
  gid: number;
}

export interface ConfiningRunnerOptions extends ConfinedIdentity {
  /** Where the (empty, host-side) mount point of each sandbox root is created; default the daemon's scratch directory (platform/fs/process-scratch). */
  tempRoot?: string;
  /** System paths visible read-only; default SYSTEM_PATHS. */
  systemPaths?: readonly string[];
}

/** What a confined process sees of the host besides the paths of its Confinement. */
export const SYSTEM_PATHS: readonly string[] = [
  "/usr",
  "/bin",
  "/sbin",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/etc",
];

const DEVICES = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"];

/**
 * Opens a directory without following any symlink on the way: the path is resolved once
 * (realpath), then opened component by component (openRealDirectory). A component swapped for a
 * link after the realpath fails the open (ELOOP/ENOTDIR) instead of leading elsewhere.
 */
export const openDirectoryNoFollow = async (path: string): Promise<number> =>
  openRealDirectory(await realpath(path));

/**
 * Opens an absolute path whose every component must be a directory and no link: each one is
 * opened below the previous one's descriptor with O_NOFOLLOW (Node has no openat();
 * /proc/self/fd/<fd>/<name> is the same).
 */
export const openRealDirectory = (real: string): number => {
  const flags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
  let fd = openSync("/", constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    for (const name of real.split("/").filter((s) => s !== "")) {
      const next = openSync(`/proc/self/fd/${fd}/${name}`, flags);
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
};

type Entry = readonly string[];

/** `link`/`ro` entries for the system paths that exist here (a missing /lib32 is no error). */
const systemEntries = async (paths: readonly string[]): Promise<Entry[]> => {
  const entries: Entry[] = [];
  for (const path of paths) {
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined) continue;
    entries.push(st.isSymbolicLink() ? ["link", await readlink(path), path] : ["ro", path]);
  }
  return entries;
};

/**
 * Where /etc/resolv.conf really is: with systemd-resolved it links into /run, which a confined
 * process would otherwise not see (and then resolve no host name).
 */
const resolverPaths = async (): Promise<string[]> => {
  const real = await realpath("/etc/resolv.conf").catch(() => undefined);
  return real === undefined ? [] : [real];
};

const isWithin = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/**
 * `ro` entries for the call's readable paths that exist, bound at the path as given (a link is
 * followed: what it names appears there). Paths already inside a system path are visible anyway.
 */
const readableEntries = async (
  paths: readonly string[],
  systemPaths: readonly string[],
): Promise<Entry[]> => {
  const entries: Entry[] = [];
  for (const path of new Set(paths)) {
    if (!isAbsolute(path) || systemPaths.some((s) => isWithin(path, s))) continue;
    if ((await stat(path).catch(() => undefined)) === undefined) continue;
    entries.push(["ro", path]);
  }
  return entries;
};

/**
 * Runs each command as an unprivileged user in a private mount namespace that shows, of the
 * host, only read-only system directories, a few device nodes, a private /tmp, and the paths of
 * the call's Confinement (writable directories read-write, others read-only). Needs root.
 */
export class ConfiningProcessRunner implements ProcessRunner {
  private readonly tempRoot: string;
  private readonly systemPaths: readonly string[];

  constructor(private readonly options: ConfiningRunnerOptions) {
    this.tempRoot = options.tempRoot ?? scratchDir();
    this.systemPaths = options.systemPaths ?? SYSTEM_PATHS;
  }

  get identity(): ConfinedIdentity {
    return { uid: this.options.uid, gid: this.options.gid };
  }

  async run(
    command: string,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<RunResult> {
    const confinement: Confinement = options.confinement ?? { writable: [] };
    const mountPoint = await mkdtemp(join(this.tempRoot, "ws-daemon-sandbox-"));
    const fds: number[] = [];
    try {
      const entries = [
        ...(await systemEntries(this.systemPaths)),
        ...(await readableEntries(
          [...(confinement.readable ?? []), ...(await resolverPaths())],
          this.systemPaths,
        )),
      ];
      for (const dev of DEVICES) entries.push(["dev", dev]);
      for (const dir of confinement.writable) {
        const fd = await openDirectoryNoFollow(dir);
        fds.push(fd);
        // the child sees the descriptors from 3 on, in this order
        entries.push(["rw", String(2 + fds.length), await realpath(dir)]);
      }
      const scriptArgs = [
        mountPoint,
        String(this.options.uid),
        String(this.options.gid),
        options.cwd ?? "/",
        ...entries.flat(),
        "--",
        command,
        ...args,
      ];
      const result = await spawnCollecting(
        "unshare",
        [
          "--mount",
          "--propagation",
          "private",
          "--ipc",
          "--",
          "/bin/sh",
          "-c",
          CONFINEMENT_SCRIPT,
          "sh",
          ...scriptArgs,
        ],
        // the host-side cwd of unshare; the command's own cwd is set inside the sandbox
        { ...options, cwd: "/" },
        fds,
      );
      if (
        result.exitCode === CONFINE_FAILURE_EXIT &&
        result.stderr.includes(CONFINE_FAILURE_PREFIX)
      ) {
        const line = result.stderr.split("\n").find((l) => l.startsWith(CONFINE_FAILURE_PREFIX));
        throw new DomainError(
          "failed-precondition",
          `cannot confine ${command}: ${(line ?? "").slice(CONFINE_FAILURE_PREFIX.length).trim()}`,
        );
      }
      return result;
    } finally {
      for (const fd of fds) closeSync(fd);
      // empty on the host: the sandbox's mounts lived in its own namespace
      await rmdir(mountPoint).catch(() => undefined);
    }
  }
}
