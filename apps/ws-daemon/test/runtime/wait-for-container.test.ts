import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  ProcessRuntime,
  type WorkspaceContainer,
  WorkspaceContainerNotFound,
  withCallSignal,
} from "../../src/runtime/index.js";
import { waitForContainer } from "../../src/runtime/wait-for-container.js";
import { RecordingClock } from "../platform/fake-clock.js";

const container = { workspaceId: "ws", rootPid: 42 } as WorkspaceContainer;

/** Not found `misses` times, then the container. */
const appearsAfter = (misses: number) => {
  let looks = 0;
  return {
    look: async () => {
      looks++;
      if (looks <= misses) throw new WorkspaceContainerNotFound("no running container yet");
      return container;
    },
    looks: () => looks,
  };
};

describe("waiting for the workspace container (issue 11, upstream's WaitForContainer)", () => {
  it("polls until the container appears", async () => {
    const clock = new RecordingClock();
    const c = appearsAfter(3);
    expect(await waitForContainer(c.look, { maxWaitMs: 10_000, pollIntervalMs: 500, clock })).toBe(
      container,
    );
    expect(c.looks()).toBe(4);
    expect(clock.sleeps).toEqual([500, 500, 500]);
  });

  it("gives up at maxWaitMs with the last reason and how long it waited", async () => {
    const clock = new RecordingClock();
    const c = appearsAfter(100);
    const err = await waitForContainer(c.look, {
      maxWaitMs: 1200,
      pollIntervalMs: 500,
      clock,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkspaceContainerNotFound);
    expect((err as Error).message).toBe("no running container yet (waited 1200 ms)");
    expect(clock.sleeps).toEqual([500, 500, 200]);
  });

  it("0 = one look only: NOT_FOUND at once", async () => {
    const clock = new RecordingClock();
    const err = await waitForContainer(appearsAfter(1).look, {
      maxWaitMs: 0,
      pollIntervalMs: 500,
      clock,
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe("no running container yet");
    expect(clock.sleeps).toEqual([]);
  });

  it("stops when the call's deadline passes (the call scope's signal)", async () => {
    const clock = new RecordingClock();
    const call = new AbortController();
    let looks = 0;
    const look = async () => {
      looks++;
      if (looks === 2) call.abort(new Error("deadline"));
      throw new WorkspaceContainerNotFound("not yet");
    };
    const err = await withCallSignal(call.signal, () =>
      waitForContainer(look, { maxWaitMs: 60_000, pollIntervalMs: 100, clock }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkspaceContainerNotFound);
    expect(looks).toBe(2);
  });

  it("other errors end the wait at once", async () => {
    const clock = new RecordingClock();
    const err = await waitForContainer(
      async () => {
        throw new Error("engine unreachable");
      },
      { maxWaitMs: 60_000, pollIntervalMs: 100, clock },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe("engine unreachable");
    expect(clock.sleeps).toEqual([]);
  });

  it("the process runtime can wait for a registration that comes later", async () => {
    const rt = new ProcessRuntime({ waitForContainerMs: 5_000, pollIntervalMs: 20 });
    const sleeper = spawn("sleep", ["30"]);
    try {
      const found = rt.findWorkspaceContainer("late");
      setTimeout(() => rt.register("late", sleeper.pid as number), 100);
      expect((await found).rootPid).toBe(sleeper.pid);
    } finally {
      sleeper.kill();
    }
  });
});
