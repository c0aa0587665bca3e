import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { ProcessRunner, RunOptions, RunResult } from "../../../src/platform/index.js";

export interface RecycledPid {
  pid: number;
  stop(): Promise<void>;
}

const cmdlineOf = (pid: number) =>
  readFile(`/proc/${pid}/cmdline`, "utf8").then(
    (t) => t.split("\0").filter(Boolean).join(" "),
    () => "",
  );

/**
 * Kills `pid` and starts `command` (e.g. `unshare --user sleep 3690`) under the very same host
 * pid number: a real recycling, as the kernel does it when pids wrap. The host's ns_last_pid is
 * set to pid-1 right before each fork; on a busy machine another process may take the number
 * first, so it retries once the number is free again (in practice the first attempt hits).
 * Resolves once `command` runs (after its exec, so its namespaces exist).
 */
export async function recyclePid(pid: number, command: string): Promise<RecycledPid> {
  // The shell starts while `pid` still runs, so the shell itself cannot get the number. It kills
  // the process, waits until its parent reaped it, and forks right after setting ns_last_pid.
  // Another process that took the number first holds it until it ends: then it waits again.
  const script = [
    `kill -9 ${pid} 2>/dev/null`,
    "for i in $(seq 1 1000); do",
    `  if [ -e /proc/${pid} ]; then sleep 0.01; continue; fi`,
    "  read before < /proc/sys/kernel/ns_last_pid",
    `  echo ${pid - 1} > /proc/sys/kernel/ns_last_pid`,
    `  ${command} &`,
    "  got=$!",
    // give the allocator its place back (read is a builtin: no fork in between), so no other
    // recently freed number gets reused early for another test's or anybody's process
    "  read now < /proc/sys/kernel/ns_last_pid",
    `  if [ "$before" -gt ${pid} ] && [ "$now" -lt "$before" ]; then echo "$before" > /proc/sys/kernel/ns_last_pid; fi`,
    `  if [ "$got" = ${pid} ]; then echo hit; wait; exit 0; fi`,
    '  kill -9 "$got"; wait "$got" 2>/dev/null',
    "done",
    "echo miss",
  ].join("\n");
  const shell: ChildProcess = spawn("sh", ["-c", script], { stdio: ["ignore", "pipe", "inherit"] });
  const answer = await new Promise<string>((resolve) => {
    shell.stdout?.once("data", (d: Buffer) => resolve(d.toString().trim()));
    shell.once("exit", () => resolve("exited"));
  });
  const exited = () => shell.exitCode !== null || shell.signalCode !== null;
  const ended = new Promise((resolve) => shell.once("exit", resolve));
  if (answer !== "hit") {
    // nothing of ours holds the number: never kill what does
    await ended;
    throw new Error(`could not start ${command} as pid ${pid} (${answer})`);
  }
  // while the shell waits for it, the number is still our command's
  const stop = async () => {
    if (exited()) return;
    process.kill(pid, "SIGKILL");
    await ended;
  };
  // `unshare [--opt ...] prog` execs prog under the same pid once the namespaces exist
  const wanted = command.replace(/^unshare( --\S+)* /, "");
  for (let i = 0; (await cmdlineOf(pid)) !== wanted; i++) {
    if (i > 500) throw new Error(`${command} did not start as pid ${pid}`);
    await sleep(10);
  }
  return { pid, stop };
}

/**
 * A ProcessRunner that runs `before` ahead of the first command `matches` picks, then passes every
 * command on: where a test puts a pid recycling between the daemon's check and its use.
 */
export class InterceptingRunner implements ProcessRunner {
  private fired = false;
  constructor(
    private readonly inner: ProcessRunner,
    private readonly matches: (command: string, args: readonly string[]) => boolean,
    private readonly before: () => Promise<void>,
  ) {}

  async run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    if (!this.fired && this.matches(command, args)) {
      this.fired = true;
      await this.before();
    }
    return this.inner.run(command, args, options);
  }
}
