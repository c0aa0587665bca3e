import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { StartedNetwork } from "testcontainers";
import { docker } from "./run-command.js";

export interface MotoServer {
  /** S3 endpoint URL, e.g. http://172.18.0.1:40123 (reachable from the host too). */
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * The host's address on a test network: containers attached to that network reach host
 * processes bound to it, while nothing outside this machine does.
 */
export async function networkGateway(network: StartedNetwork): Promise<string> {
  const gateway = (
    await docker([
      "network",
      "inspect",
      "--format",
      "{{(index .IPAM.Config 0).Gateway}}",
      network.getId(),
    ])
  ).trim();
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(gateway)) {
    throw new Error(`network ${network.getName()} has no IPv4 gateway (got "${gateway}")`);
  }
  return gateway;
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2_000) });
    return (await response.text()).includes("ListAllMyBucketsResult");
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Starts moto_server (in-memory S3, shipped with this machine's Python) bound to `host`;
 * for containers pass the test network's gateway (see networkGateway).
 */
export async function startMoto(host = "127.0.0.1", timeoutMs = 30_000): Promise<MotoServer> {
  const port = await freePort(host);
  const endpoint = `http://${host}:${port}`;
  const child = spawn("moto_server", ["-H", host, "-p", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4_000);
  });
  const spawnFailure = new Promise<Error>((resolve) => child.once("error", resolve));

  const stop = async (): Promise<void> => {
    if (exited(child)) return;
    const gone = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([gone, sleep(5_000).then(() => child.kill("SIGKILL"))]);
  };

  const deadline = Date.now() + timeoutMs;
  while (!(await answers(endpoint))) {
    const failure = await Promise.race([spawnFailure, sleep(200).then(() => undefined)]);
    if (failure || exited(child) || Date.now() > deadline) {
      await stop();
      throw new Error(
        `moto_server did not answer on ${endpoint}: ${failure?.message || stderr.trim() || "timeout"}`,
      );
    }
  }
  return { endpoint, stop };
}
