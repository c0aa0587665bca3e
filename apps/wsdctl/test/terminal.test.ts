/**
 * The progress display as a person sees it: wsdctl runs in a real terminal (tmux) against a mock
 * server whose WatchWorkspace stream the test feeds step by step; the screen is read after each
 * step. It must show a spinner line that updates in place (one line, not a scroll of lines) and
 * end as one clean ✔ line with the cursor visible again.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { OperationPhase, WorkspaceContentState, WorkspaceOperation } from "@ws-daemon/api";
import {
  createWorkspaceContentServiceMock,
  type MockServer,
  startMockServer,
} from "@ws-daemon/api-mocks";
import { afterAll, describe, expect, it } from "vitest";

const hasTmux = spawnSync("tmux", ["-V"]).status === 0;
if (!hasTmux) console.warn("terminal test skipped: tmux is not installed (apt-get install tmux)");

const CLI = fileURLToPath(new URL("../src/wsdctl.ts", import.meta.url));
const session = `wsdctl-test-${process.pid}`;
const tmux = (...args: string[]) => execFileSync("tmux", args, { encoding: "utf8" });
const screen = () => tmux("capture-pane", "-p", "-t", session);
const cursorVisible = () =>
  tmux("display-message", "-p", "-t", session, "#{cursor_flag}").trim() === "1";

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what} did not happen; screen:\n${screen()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let server: MockServer | undefined;
afterAll(async () => {
  if (hasTmux) spawnSync("tmux", ["kill-session", "-t", session]);
  await server?.close();
});

const progress = (bytesDone: bigint) => ({
  event: {
    case: "progress" as const,
    value: {
      operation: WorkspaceOperation.INIT,
      phase: OperationPhase.RESTORING,
      initializer: "backup",
      bytesDone,
      bytesTotal: 100n * 1024n * 1024n,
      bytesPerSecond: 10 * 1024 * 1024,
      etaMs: 3000n,
    },
  },
});

describe.skipIf(!hasTmux)("wsdctl on a terminal", () => {
  it("updates one progress line in place and ends with a clean ✔ line", async () => {
    const mock = createWorkspaceContentServiceMock();
    const live = mock.watchWorkspace.live();
    server = await startMockServer([mock]);
    tmux(
      "new-session",
      "-d",
      "-s",
      session,
      "-x",
      "140",
      "-y",
      "20",
      `${process.execPath} --import tsx ${CLI} --address ${server.baseUrl} watch ws-1; echo "EXIT=$?"; sleep 60`,
    );
    await live.opened;
    live.send({
      event: {
        case: "snapshot",
        value: {
          workspace: {
            id: "ws-1",
            state: WorkspaceContentState.SETTING_UP,
            operation: WorkspaceOperation.INIT,
          },
        },
      },
    });
    live.send(progress(10n * 1024n * 1024n));
    await until("10% shown", () => screen().includes("10%"));
    const first = screen();
    expect(first).toMatch(
      /ws-1: init restoring \(backup\) \[██░+\] 10%, 10 MiB\/100 MiB, 10 MiB\/s, 3\.0s left/,
    );
    expect(cursorVisible(), "the cursor is hidden while the spinner runs").toBe(false);

    live.send(progress(60n * 1024n * 1024n));
    await until("60% shown", () => screen().includes("60%"));
    const second = screen();
    // updated in place: still one progress line, and the old figure is gone
    expect(second.match(/init restoring/g)).toHaveLength(1);
    expect(second).not.toContain("10%");

    live.send({
      event: {
        case: "stateChange",
        value: { from: WorkspaceContentState.SETTING_UP, to: WorkspaceContentState.AVAILABLE },
      },
    });
    live.send({
      event: {
        case: "operationFinished",
        value: { operation: WorkspaceOperation.INIT, elapsedMs: 2000n },
      },
    });
    live.end();
    await until("the command ended", () => screen().includes("EXIT="));
    const last = screen();
    const lines = last.split("\n").filter((l) => l.trim() !== "");
    expect(lines).toEqual([
      "ws-1: setting-up",
      "ws-1: setting-up -> available",
      "ws-1: init done in 2.0s",
      "✔ ws-1: init done",
      "EXIT=0",
    ]);
    expect(last).not.toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/);
    expect(cursorVisible(), "the cursor is back").toBe(true);
  });
});
