import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseCgroupLayout } from "../../src/linux/cgroup-layout.js";
import {
  readResourcesV1,
  readResourcesV2,
  type WorkspaceResources,
} from "../../src/linux/cgroup-resources.js";
import { type Clock, parseProcCgroup } from "../../src/platform/index.js";

const host = { cpuCount: 4, memTotalBytes: 8 * 1024 ** 3 };

/** A clock whose sleep advances time and lets the "kernel" update a counter file meanwhile. */
function steppingClock(onSleep: () => Promise<void>): Clock {
  let t = 5_000;
  return {
    now: () => t,
    sleep: async (ms) => {
      t += ms;
      await onSleep();
    },
  };
}

describe("cgroup layout detection", () => {
  it("recognises this VM's hybrid layout", () => {
    const mounts = [
      "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0",
      "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0",
      "cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0",
      "cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,memory 0 0",
      "cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0",
      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0",
    ].join("\n");
    expect(parseCgroupLayout(mounts)).toEqual({
      version: "hybrid",
      unifiedMount: "/sys/fs/cgroup/unified",
      v1Mounts: {
        cpu: "/sys/fs/cgroup/cpu",
        cpuacct: "/sys/fs/cgroup/cpuacct",
        memory: "/sys/fs/cgroup/memory",
        "name=systemd": "/sys/fs/cgroup/systemd",
      },
    });
  });

  it("recognises pure v2 and pure v1, and combined v1 controllers", () => {
    expect(parseCgroupLayout("cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n").version).toBe(
      "v2",
    );
    const v1 = parseCgroupLayout("cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n");
    expect(v1).toEqual({
      version: "v1",
      v1Mounts: { cpu: "/sys/fs/cgroup/cpu,cpuacct", cpuacct: "/sys/fs/cgroup/cpu,cpuacct" },
    });
  });

  it("parses /proc/<pid>/cgroup", () => {
    expect(parseProcCgroup("4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/d\n")).toEqual({
      unified: "/d",
      v1: { memory: "/a/b", cpu: "/c", cpuacct: "/c" },
    });
    expect(parseProcCgroup("0::/only\n")).toEqual({ unified: "/only", v1: {} });
  });
});

describe("resources from cgroup files (fixtures)", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "wsd-cgfix-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const put = (name: string, text: string) => writeFile(join(dir, name), text);

  /**
   * One sample: `files` hold the counters before the window, `during` is what the "kernel"
   * writes while the reader waits `sampleMs` (none: the counters stand still).
   */
  interface Sample {
    title: string;
    files: Record<string, string>;
    during?: [file: string, text: string];
    sampleMs: number;
    expected: WorkspaceResources;
  }
  const sampling = async ({ files, during, sampleMs }: Sample) => {
    for (const [name, text] of Object.entries(files)) await put(name, text);
    const clock = steppingClock(async () => {
      if (during) await put(...during);
    });
    return { clock, sampleMs, host };
  };

  it.each<Sample>([
    {
      title:
        "v2: millicores from usage_usec over the window, fractional quota kept, memory minus inactive_file",
      files: {
        "cpu.max": "150000 100000\n",
        "cpu.stat": "usage_usec 1000000\nuser_usec 1\nsystem_usec 2\n",
        "memory.current": "524288000\n",
        "memory.stat": "anon 1\nfile 2\ninactive_file 104857600\nactive_file 3\n",
        "memory.max": "1073741824\n",
      },
      // 300 ms of CPU time during a 1000 ms window = 300 millicores
      during: ["cpu.stat", "usage_usec 1300000\n"],
      sampleMs: 1000,
      expected: { cpu: { used: 300, limit: 1500 }, memory: { used: 419430400, limit: 1073741824 } },
    },
    {
      title: "v2: unlimited cpu and memory fall back to host capacity; used never negative",
      files: {
        "cpu.max": "max 100000\n",
        "cpu.stat": "usage_usec 5\n",
        "memory.current": "100\n",
        "memory.stat": "inactive_file 4096\n",
        "memory.max": "max\n",
      },
      sampleMs: 10,
      expected: { cpu: { used: 0, limit: 4000 }, memory: { used: 0, limit: host.memTotalBytes } },
    },
  ])("$title", async (sample) => {
    expect(await readResourcesV2(dir, await sampling(sample))).toEqual(sample.expected);
  });

  it.each<Sample>([
    {
      title: "v1: cfs quota/period, cpuacct.usage in ns, usage_in_bytes minus total_inactive_file",
      files: {
        "cpu.cfs_quota_us": "250000\n",
        "cpu.cfs_period_us": "100000\n",
        "cpuacct.usage": "2000000000\n",
        "memory.usage_in_bytes": "300000000\n",
        "memory.stat": "cache 5\ntotal_inactive_file 100000000\n",
        "memory.limit_in_bytes": "9223372036854771712\n", // "unlimited" in v1
      },
      during: ["cpuacct.usage", "2750000000\n"], // 750 ms over 500 ms
      sampleMs: 500,
      expected: {
        cpu: { used: 1500, limit: 2500 },
        memory: { used: 200000000, limit: host.memTotalBytes },
      },
    },
    {
      title: "v1: no quota means all host CPUs",
      files: {
        "cpu.cfs_quota_us": "-1\n",
        "cpu.cfs_period_us": "100000\n",
        "cpuacct.usage": "0\n",
        "memory.usage_in_bytes": "4096\n",
        "memory.stat": "total_inactive_file 0\n",
        "memory.limit_in_bytes": "268435456\n",
      },
      sampleMs: 1,
      expected: { cpu: { used: 0, limit: 4000 }, memory: { used: 4096, limit: 268435456 } },
    },
  ])("$title", async (sample) => {
    // v1 fixtures keep every controller's files in the one directory
    const dirs = { cpu: dir, cpuacct: dir, memory: dir };
    expect(await readResourcesV1(dirs, await sampling(sample))).toEqual(sample.expected);
  });

  it("reports a missing file as not-found and garbage as internal", async () => {
    const clock = steppingClock(async () => {});
    await expect(readResourcesV2(dir, { clock, sampleMs: 1, host })).rejects.toMatchObject({
      kind: "not-found",
    });
    await put("cpu.max", "max 100000\n");
    await put("cpu.stat", "usage_usec 1\n");
    await put("memory.current", "lots\n");
    await expect(readResourcesV2(dir, { clock, sampleMs: 1, host })).rejects.toMatchObject({
      kind: "internal",
    });
  });
});
