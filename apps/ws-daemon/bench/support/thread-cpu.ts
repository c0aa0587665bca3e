import { readdirSync, readFileSync } from "node:fs";

/** CPU seconds of this process by thread, and of its children waited for, from /proc. */
export interface CpuSnapshot {
  /** All threads of this process, ended ones included. */
  process: number;
  /** The main thread (the event loop). */
  main: number;
  /** The busiest other thread (during a restore: the extract worker). */
  threads: Map<string, number>;
  /** Children that ended and were waited for (zstd, wsd-unchunk, tar...). */
  children: number;
}

/** utime + stime (+ cutime + cstime) of a /proc stat line, in seconds. */
const seconds = (stat: string, withChildren: boolean): number => {
  const fields = stat.split(") ")[1]?.split(" ") ?? [];
  // utime, stime, cutime, cstime are fields 14-17 (1-based), here 11-14 after "pid (comm) "
  const picked = withChildren ? [13, 14] : [11, 12];
  return picked.reduce((sum, i) => sum + Number(fields[i]), 0) / 100;
};

export function cpuSnapshot(): CpuSnapshot {
  const self = readFileSync("/proc/self/stat", "utf8");
  const threads = new Map<string, number>();
  let main = 0;
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const t = seconds(readFileSync(`/proc/self/task/${tid}/stat`, "utf8"), false);
      if (tid === String(process.pid)) main = t;
      else threads.set(tid, t);
    } catch {
      // the thread ended meanwhile
    }
  }
  return { process: seconds(self, false), main, threads, children: seconds(self, true) };
}

/** CPU seconds between two snapshots: main thread, busiest other thread, all others, children. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot) {
  let busiest = 0;
  for (const [tid, t] of b.threads) busiest = Math.max(busiest, t - (a.threads.get(tid) ?? 0));
  const main = b.main - a.main;
  const all = b.process - a.process;
  return { main, busiest, others: all - main - busiest, children: b.children - a.children };
}
