import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { freePort } from "./net.js";

export { freePort };

export interface MotoServer {
  /** e.g. "http://127.0.0.1:41234" */
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts `moto_server` (an in-memory S3) as a child process on a free loopback port and waits
 * until it answers. Every call gets its own server, so test files can run in parallel.
 */
export async function startMotoServer(timeoutMs = 30_000): Promise<MotoServer> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
    });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (s: string) => {
      if (stderr.length < 8192) stderr += s;
    });
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      await waitUntilAnswering(endpoint, child, timeoutMs);
      return { endpoint, port, stop: () => stopChild(child) };
    } catch (err) {
      await stopChild(child);
      // another process may have grabbed the port between freePort() and moto binding it
      if (attempt < 2 && /address already in use/i.test(stderr)) continue;
      throw new Error(`moto_server did not start: ${(err as Error).message}\n${stderr}`);
    }
  }
}

async function waitUntilAnswering(
  endpoint: string,
  child: ChildProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    try {
      const res = await fetch(endpoint + "/", { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer from ${endpoint} within ${timeoutMs} ms`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}
