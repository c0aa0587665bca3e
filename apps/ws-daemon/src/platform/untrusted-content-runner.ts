import { ConfiningProcessRunner, type ConfiningRunnerOptions } from "./confined-process-runner.js";
import { DomainError, errorMessage } from "./errors.js";
import { NodeProcessRunner, type ProcessRunner, type RunResult } from "./process.js";

/**
 * How commands that read workspace or repository content (git) run:
 * - "confined": the daemon is root and confinement works: unprivileged, in a private mount
 *   namespace (ConfiningProcessRunner).
 * - "own-user": the daemon is not root (tests, macOS): as the daemon's own user, unconfined;
 *   there is nothing to escalate to.
 * - "refused": the daemon is root but confinement does not work here: every run fails with
 *   FAILED_PRECONDITION rather than running repository-controlled code as root.
 */
export type UntrustedRunnerMode = "confined" | "own-user" | "refused";

export interface UntrustedContentRunner {
  mode: UntrustedRunnerMode;
  runner: ProcessRunner;
  /** The identity confined commands run as ("confined" only). */
  identity?: { uid: number; gid: number };
  /** Why confinement does not work ("refused" only). */
  reason?: string;
}

class RefusingProcessRunner implements ProcessRunner {
  constructor(private readonly reason: string) {}

  run(command: string): Promise<RunResult> {
    return Promise.reject(
      new DomainError(
        "failed-precondition",
        `refusing to run ${command} as root without confinement: ${this.reason}`,
      ),
    );
  }
}

/** Probes once (a confined `id -u` must answer the configured uid) and picks the mode. */
export const createUntrustedContentRunner = async (
  options: ConfiningRunnerOptions & { isRoot?: boolean },
): Promise<UntrustedContentRunner> => {
  const isRoot = options.isRoot ?? process.getuid?.() === 0;
  if (!isRoot) return { mode: "own-user", runner: new NodeProcessRunner() };
  const confined = new ConfiningProcessRunner(options);
  let reason: string;
  try {
    const probe = await confined.run("id", ["-u"]);
    if (probe.exitCode === 0 && probe.stdout.trim() === String(options.uid)) {
      return { mode: "confined", runner: confined, identity: confined.identity };
    }
    reason = `the probe answered exit code ${probe.exitCode}, uid '${probe.stdout.trim()}': ${probe.stderr.trim()}`;
  } catch (err) {
    reason = errorMessage(err);
  }
  return { mode: "refused", runner: new RefusingProcessRunner(reason), reason };
};
