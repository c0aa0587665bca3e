import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { createDaemonClients, createDaemonTransport } from "@ws-daemon/api";

const appRoot = path.resolve(__dirname, "..", "..");

export interface DaemonProcess {
  child: ChildProcess;
  address: string;
  lines: string[];
  clients(): ReturnType<typeof createDaemonClients>;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

/** Runs src/main.ts as a real child process (through tsx) in `cwd` and waits until it listens. */
export async function spawnDaemon(
  cwd: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<DaemonProcess> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      require.resolve("tsx"),
      path.join(appRoot, "src", "main.ts"),
      "--listen.port=0",
      "--metrics.enabled=false",
      // The tests' download servers listen on 127.0.0.1, which the default policy refuses.
      "--downloads.allowPrivateNetworks=true",
      ...args,
    ],
    { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...env, NODE_OPTIONS: "" } },
  );
  const lines: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`daemon did not start:\n${lines.join("\n")}`)),
      30_000,
    );
    if (!child.stderr || !child.stdout) throw new Error("the daemon's output is not piped");
    createInterface({ input: child.stderr }).on("line", (l) => lines.push(l));
    createInterface({ input: child.stdout }).on("line", (line) => {
      lines.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; address?: string };
        if (entry.msg === "ws-daemon listening" && entry.address) {
          clearTimeout(timer);
          resolve(entry.address);
        }
      } catch {
        // not a log line
      }
    });
    exited.then((code) => reject(new Error(`daemon exited with ${code}:\n${lines.join("\n")}`)));
  });
  return {
    child,
    address,
    lines,
    exited,
    clients: () => createDaemonClients(createDaemonTransport({ address })),
  };
}
