import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { freePort } from "./net.js";

export interface MotoServer {
  /** e.g. "http://127.0.0.1:41234" */
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts `moto_server` (an in-memory S3; Python moto 5 on the PATH) on a free port of `host` and
 * waits until it answers. Every call gets its own server, so test files can run in parallel. For
 * containers pass the test network's gateway address as `host`.
 */
export async function startMotoServer(host = "127.0.0.1", timeoutMs = 30_000): Promise<MotoServer> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort(host);
    const child = spawn("moto_server", ["-H", host, "-p", String(port)], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
    });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (s: string) => {
      if (stderr.length < 8192) stderr += s;
    });
    const spawnFailure = new Promise<Error>((resolve) => child.once("error", resolve));
    const endpoint = `http://${host}:${port}`;
    try {
      await waitUntilAnswering(endpoint, child, spawnFailure, timeoutMs);
      return { endpoint, port, stop: () => stopChild(child) };
    } catch (err) {
      await stopChild(child);
      // another process may have grabbed the port between freePort() and moto binding it
      if (attempt < 2 && /address already in use/i.test(stderr)) continue;
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`moto_server did not start on ${endpoint}: ${why}\n${stderr}`);
    }
  }
}

async function waitUntilAnswering(
  endpoint: string,
  child: ChildProcess,
  spawnFailure: Promise<Error>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const failure = await Promise.race([spawnFailure, Promise.resolve(undefined)]);
    if (failure) throw failure;
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer within ${timeoutMs} ms`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}
