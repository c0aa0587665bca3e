import { NsHelper } from "../../../src/linux/ns-helper.js";
import { WorkspaceLinux, type WorkspaceLinuxConfig } from "../../../src/linux/workspace-linux.js";
import { systemClock } from "../../../src/platform/clock.js";
import { NodeProcessRunner, type ProcessRunner } from "../../../src/platform/process.js";
import { ProcessRuntime } from "../../../src/runtime/process-runtime.js";
import { ensureHelperBuilt } from "./helper-binary.js";

/**
 * A WorkspaceLinux over the process runtime with the real helper, for a fake container root.
 * `runner` runs the helper and every other command (a test may wrap the real one).
 */
export function workspaceFor(
  rootPid: number,
  config: Partial<WorkspaceLinuxConfig> = {},
  runner: ProcessRunner = new NodeProcessRunner(),
) {
  const runtime = new ProcessRuntime();
  const workspaceId = `ws-${rootPid}`;
  runtime.register(workspaceId, rootPid);
  const helper = new NsHelper(runner, ensureHelperBuilt());
  const ws = new WorkspaceLinux({
    workspaceId,
    runtime,
    helper,
    runner,
    clock: systemClock,
    config: { allowedHostIds: { start: 100000, end: 165535 }, ...config },
  });
  return { ws, helper, runtime, runner };
}
