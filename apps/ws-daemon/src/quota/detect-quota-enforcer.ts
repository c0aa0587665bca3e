import { mkdir, statfs } from "node:fs/promises";
import {
  errorMessage,
  type Log,
  type ProcessRunner,
  readFilesystemsText,
  runChecked,
} from "../platform/index.js";
import { LoopImageQuotaEnforcer } from "./loop-image-enforcer.js";
import { mountContaining } from "./mount-info.js";
import { NoQuotaEnforcer } from "./no-quota-enforcer.js";
import {
  guardedLog,
  type QuotaEnforcer,
  type QuotaEnforcerOptions,
  type QuotaMethod,
} from "./quota-enforcer.js";
import { QuotaError } from "./quota-error.js";
import { XfsProjectQuotaEnforcer } from "./xfs-project-enforcer.js";

export interface DetectQuotaOptions {
  runner: ProcessRunner;
  log?: Log;
  /** "auto" (default) tries xfs-project, then loop-image, then falls back to none. A named method must work or detection throws. */
  method?: "auto" | QuotaMethod;
  lenientFactor?: number;
  /** Defaults to process.getuid() === 0; both real mechanisms need root. */
  isRoot?: boolean;
}

const XFS_SUPER_MAGIC = 0x58465342;

type Probe = { ok: true; enforcer: QuotaEnforcer } | { ok: false; reason: string };

const commandWorks = async (runner: ProcessRunner, command: string, args: string[]) => {
  try {
    return (await runner.run(command, args)).exitCode === 0;
  } catch {
    return false;
  }
};

const enforcerOptions = (
  workingArea: string,
  options: DetectQuotaOptions,
): QuotaEnforcerOptions => ({
  workingArea,
  runner: options.runner,
  ...(options.log ? { log: options.log } : {}),
  ...(options.lenientFactor ? { lenientFactor: options.lenientFactor } : {}),
});

const probeXfs = async (workingArea: string, options: DetectQuotaOptions): Promise<Probe> => {
  if ((await statfs(workingArea)).type !== XFS_SUPER_MAGIC) {
    return { ok: false, reason: "the working area is not on XFS" };
  }
  const mount = await mountContaining(workingArea);
  if (!mount) return { ok: false, reason: "no mount found for the working area" };
  const enforced = mount.superOptions.some((o) => o === "prjquota" || o === "pquota");
  if (!enforced) {
    return {
      ok: false,
      reason: `XFS at ${mount.mountPoint} is mounted without prjquota (options: ${mount.superOptions.join(",")})`,
    };
  }
  let state: string;
  try {
    const r = await runChecked(options.runner, "xfs_quota", [
      "-x",
      "-c",
      "state -p",
      mount.mountPoint,
    ]);
    // xfs_quota exits 0 when its command fails; stderr tells
    if (r.stderr.trim() !== "") throw new Error(r.stderr.trim());
    state = r.stdout;
  } catch (err) {
    return {
      ok: false,
      reason: `xfs_quota does not work (install xfsprogs): ${errorMessage(err)}`,
    };
  }
  if (!/Enforcement:\s*ON/i.test(state)) {
    return { ok: false, reason: `project quota enforcement is off on ${mount.mountPoint}` };
  }
  return {
    ok: true,
    enforcer: new XfsProjectQuotaEnforcer({
      ...enforcerOptions(workingArea, options),
      mountPoint: mount.mountPoint,
    }),
  };
};

const probeLoopImage = async (workingArea: string, options: DetectQuotaOptions): Promise<Probe> => {
  const filesystems = await readFilesystemsText();
  if (!/\text4\n/.test(filesystems)) return { ok: false, reason: "the kernel has no ext4" };
  const tools: [string, string[]][] = [
    ["mkfs.ext4", ["-V"]],
    ["resize2fs", ["-P", "/dev/null"]],
    ["dumpe2fs", ["-V"]],
    ["e2fsck", ["-V"]],
    ["mount", ["--version"]],
    ["losetup", ["--version"]],
  ];
  for (const [command, args] of tools) {
    // resize2fs has no version flag and exits 1 on /dev/null; only a missing binary matters.
    const ok =
      command === "resize2fs"
        ? await options.runner.run(command, args).then(
            () => true,
            () => false,
          )
        : await commandWorks(options.runner, command, args);
    if (!ok) return { ok: false, reason: `${command} is missing (install e2fsprogs/util-linux)` };
  }
  if (!(await commandWorks(options.runner, "losetup", ["-f"]))) {
    return { ok: false, reason: "no free loop device (losetup -f failed)" };
  }
  return {
    ok: true,
    enforcer: new LoopImageQuotaEnforcer(enforcerOptions(workingArea, options)),
  };
};

/**
 * Picks how storage quotas are enforced for the working area: XFS project quota when the area is
 * on XFS mounted with prjquota (cheap, online, upstream's way), otherwise one loop-mounted ext4
 * image per workspace (works on any filesystem, needs root and loop devices), otherwise none.
 */
export const detectQuotaEnforcer = async (
  workingArea: string,
  options: DetectQuotaOptions,
): Promise<QuotaEnforcer> => {
  const wanted = options.method ?? "auto";
  const log = guardedLog(options.log);
  const say = (enforcer: QuotaEnforcer, tried: string[]): QuotaEnforcer => {
    log(enforcer.method === "none" ? "warn" : "info", "storage quota method", {
      method: enforcer.method,
      reason: enforcer.reason,
      ...(tried.length > 0 ? { notUsed: tried } : {}),
    });
    return enforcer;
  };
  if (wanted === "none")
    return say(new NoQuotaEnforcer("disabled by configuration", options.log), []);
  await mkdir(workingArea, { recursive: true, mode: 0o755 });
  const isRoot = options.isRoot ?? process.getuid?.() === 0;
  const tried: string[] = [];
  const probes: [QuotaMethod, typeof probeXfs][] = [
    ["xfs-project", probeXfs],
    ["loop-image", probeLoopImage],
  ];
  for (const [method, probe] of probes) {
    if (wanted !== "auto" && wanted !== method) continue;
    const result: Probe = isRoot
      ? await probe(workingArea, options)
      : { ok: false, reason: "the daemon does not run as root" };
    if (result.ok) return say(result.enforcer, tried);
    if (wanted === method) {
      throw new QuotaError(
        "unavailable",
        `storage quota method ${method} unavailable: ${result.reason}`,
      );
    }
    tried.push(`${method}: ${result.reason}`);
  }
  return say(new NoQuotaEnforcer(`no quota mechanism: ${tried.join("; ")}`, options.log), tried);
};
