import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { type Clock, errorMessage, PROC } from "../platform/index.js";
import { LinuxOpError } from "./errors.js";

/**
 * Units (also the meaning of the WorkspaceInfo proto fields):
 * - cpu.used: average CPU consumption over the sample window in millicores (1000 = one full CPU);
 * - cpu.limit: the CFS quota in millicores, rounded (fractional cores are kept, unlike upstream),
 *   or the host's CPU count x 1000 when unlimited;
 * - memory.used: bytes in use minus reclaimable inactive page cache, never below 0;
 * - memory.limit: the limit in bytes, or the host's MemTotal when unlimited or larger.
 */
export interface WorkspaceResources {
  cpu: { used: number; limit: number };
  memory: { used: number; limit: number };
}

export interface HostCapacity {
  cpuCount: number;
  memTotalBytes: number;
}

export interface ResourceSampling {
  clock: Clock;
  /** Window between the two CPU usage samples. */
  sampleMs: number;
  host?: HostCapacity;
}

export async function readHostCapacity(): Promise<HostCapacity> {
  const meminfo = await readFile(`${PROC}/meminfo`, "utf8");
  const kb = Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? 0);
  return { cpuCount: availableParallelism(), memTotalBytes: kb * 1024 };
}

async function readText(path: string): Promise<string> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (err) {
    throw new LinuxOpError("not-found", `cannot read cgroup file ${path}: ${errorMessage(err)}`);
  }
}

async function readNumber(path: string): Promise<number> {
  const text = await readText(path);
  if (!/^-?\d+$/.test(text))
    throw new LinuxOpError("internal", `cgroup file ${path} holds ${JSON.stringify(text)}`);
  return Number(text);
}

async function statField(path: string, key: string): Promise<number> {
  const text = await readText(path);
  const m = new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

/** Two samples of a cumulative counter; returns its rate per millisecond of wall time. */
async function ratePerMs(read: () => Promise<number>, s: ResourceSampling): Promise<number> {
  const a = await read();
  const t0 = s.clock.now();
  await s.clock.sleep(s.sampleMs);
  const b = await read();
  const dt = s.clock.now() - t0;
  return dt > 0 ? Math.max(0, b - a) / dt : 0;
}

function memoryLimit(raw: string, host: HostCapacity): number {
  if (raw === "max") return host.memTotalBytes;
  const v = BigInt(raw);
  return v > BigInt(host.memTotalBytes) ? host.memTotalBytes : Number(v);
}

/** cgroup v2: cpu.max, cpu.stat usage_usec, memory.current, memory.max, memory.stat. */
export async function readResourcesV2(
  dir: string,
  s: ResourceSampling,
): Promise<WorkspaceResources> {
  const host = s.host ?? (await readHostCapacity());
  const [quota, period] = (await readText(`${dir}/cpu.max`)).split(/\s+/);
  const cpuLimit =
    quota === "max" || quota === undefined
      ? host.cpuCount * 1000
      : Math.round((Number(quota) / Number(period)) * 1000);
  // usage_usec per ms of wall time = thousandths of a CPU = millicores
  const used = await ratePerMs(() => statField(`${dir}/cpu.stat`, "usage_usec"), s);
  const current = await readNumber(`${dir}/memory.current`);
  const inactive = await statField(`${dir}/memory.stat`, "inactive_file");
  return {
    cpu: { used: Math.round(used), limit: cpuLimit },
    memory: {
      used: Math.max(0, current - inactive),
      limit: memoryLimit(await readText(`${dir}/memory.max`), host),
    },
  };
}

export interface V1Dirs {
  cpu: string;
  cpuacct: string;
  memory: string;
}

/** cgroup v1: cpu.cfs_quota_us/period_us, cpuacct.usage (ns), memory.usage_in_bytes/limit_in_bytes. */
export async function readResourcesV1(
  dirs: V1Dirs,
  s: ResourceSampling,
): Promise<WorkspaceResources> {
  const host = s.host ?? (await readHostCapacity());
  const quota = await readNumber(`${dirs.cpu}/cpu.cfs_quota_us`);
  const period = await readNumber(`${dirs.cpu}/cpu.cfs_period_us`);
  const cpuLimit = quota < 0 ? host.cpuCount * 1000 : Math.round((quota / period) * 1000);
  // nanoseconds per ms of wall time / 1000 = millicores
  const used = (await ratePerMs(() => readNumber(`${dirs.cpuacct}/cpuacct.usage`), s)) / 1000;
  const usage = await readNumber(`${dirs.memory}/memory.usage_in_bytes`);
  const inactive = await statField(`${dirs.memory}/memory.stat`, "total_inactive_file");
  return {
    cpu: { used: Math.round(used), limit: cpuLimit },
    memory: {
      used: Math.max(0, usage - inactive),
      limit: memoryLimit(await readText(`${dirs.memory}/memory.limit_in_bytes`), host),
    },
  };
}
