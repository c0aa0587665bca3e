import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import {
  createDaemonClients,
  createDaemonTransport,
  type DaemonTransportOptions,
} from "@ws-daemon/api";
import { validateConfig } from "../../src/config/load-config.js";
import { type Daemon, startDaemon } from "../../src/daemon.js";
import { createLogger } from "../../src/observability/logger.js";

export interface TestDaemon {
  daemon: Daemon;
  dir: string;
  /** Every log line the daemon wrote, parsed. */
  logs: Record<string, unknown>[];
  /** The raw log text, to search for things that must never appear. */
  logText(): string;
  clients(options?: Partial<DaemonTransportOptions>): ReturnType<typeof createDaemonClients>;
  stop(): Promise<void>;
}

/** An in-process daemon on free ports with its own working area and local storage. */
export async function startTestDaemon(
  overrides: Record<string, unknown> = {},
  options: { dir?: string; keepDir?: boolean } = {},
): Promise<TestDaemon> {
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), "wsd-daemon-")));
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  const config = validateConfig({
    workingArea: path.join(dir, "workspaces"),
    storage: { kind: "local", root: path.join(dir, "storage") },
    listen: { host: "127.0.0.1", port: 0 },
    metrics: { enabled: true, host: "127.0.0.1", port: 0 },
    log: { level: "debug", format: "json" },
    // The tests' download servers listen on 127.0.0.1, which the default policy refuses.
    downloads: { allowPrivateNetworks: true },
    ...overrides,
  });
  const daemon = await startDaemon(config, createLogger(config.log.level, sink));
  let stopped = false;
  return {
    daemon,
    dir,
    get logs() {
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => lines.join("\n"),
    clients: (transport = {}) =>
      createDaemonClients(createDaemonTransport({ address: daemon.address, ...transport })),
    async stop() {
      if (stopped) return;
      stopped = true;
      await daemon.stop(2000);
      if (!options.keepDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
