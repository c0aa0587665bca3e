import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createDaemonTransport,
  createWorkspaceContentServiceClient,
  type DaemonProtocol,
  type RetryOptions,
  WorkspaceContentService,
} from "../src/index.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

/**
 * Per workspace id: how many calls the server answered, and how many of the first calls
 * fail with which code. Each test uses its own ids, so the tests stay independent.
 */
interface Plan {
  failures: number;
  code: Code;
  calls: number;
  /** Runs on every call, after counting it. */
  onCall?: ((call: number) => void) | undefined;
}
const plans = new Map<string, Plan>();

function plan(id: string, failures: number, code = Code.Unavailable, onCall?: Plan["onCall"]) {
  const p: Plan = { failures, code, calls: 0, onCall };
  plans.set(id, p);
  return p;
}

function answer(id: string): void {
  const p = plans.get(id);
  if (!p) throw new ConnectError(`no plan for ${id}`, Code.FailedPrecondition);
  p.calls++;
  p.onCall?.(p.calls);
  if (p.calls <= p.failures) throw new ConnectError(`attempt ${p.calls} refused`, p.code);
}

const routes = (router: ConnectRouter) =>
  router.service(WorkspaceContentService, {
    // Declared NO_SIDE_EFFECTS in daemon.proto.
    isWorkspaceExists(req) {
      answer(req.id);
      return { exists: true };
    },
    // Has side effects: must never be repeated by the client on its own.
    initWorkspace(req) {
      answer(req.id);
      return {};
    },
  });

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(routes);
});
afterAll(async () => {
  await server?.close();
});

const fast: RetryOptions = { initialBackoffMs: 1, maxBackoffMs: 2 };

function client(retry?: boolean | RetryOptions, protocol: DaemonProtocol = "grpc") {
  return createWorkspaceContentServiceClient(
    createDaemonTransport({ address: server.address, protocol, retry }),
  );
}

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

describe("retry of idempotent calls", () => {
  it.each(["grpc", "connect", "grpc-web"] as const)(
    "repeats IsWorkspaceExists after UNAVAILABLE until it succeeds (%s)",
    async (protocol) => {
      const id = `ws-recovers-${protocol}`;
      const p = plan(id, 2);
      const retries: { attempt: number; code: Code; method: string }[] = [];
      const c = client(
        {
          ...fast,
          onRetry: (info) =>
            retries.push({
              attempt: info.attempt,
              code: info.error.code,
              method: info.method.name,
            }),
        },
        protocol,
      );
      const res = await c.isWorkspaceExists({ id });
      expect(res.exists).toBe(true);
      expect(p.calls).toBe(3);
      expect(retries).toEqual([
        { attempt: 1, code: Code.Unavailable, method: "IsWorkspaceExists" },
        { attempt: 2, code: Code.Unavailable, method: "IsWorkspaceExists" },
      ]);
    },
  );

  it("works with retry: true and the default backoff", async () => {
    const p = plan("ws-defaults", 2);
    expect((await client(true).isWorkspaceExists({ id: "ws-defaults" })).exists).toBe(true);
    expect(p.calls).toBe(3);
  });

  it("never repeats a method with side effects (InitWorkspace)", async () => {
    const p = plan("ws-init", 2);
    const err = await rejection(
      client({ ...fast, maxAttempts: 10 }).initWorkspace({ id: "ws-init" }),
    );
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe("attempt 1 refused");
    expect(p.calls).toBe(1);
  });

  it("repeats a method the caller declares idempotent via isIdempotent", async () => {
    const p = plan("ws-init-forced", 1);
    await client({ ...fast, isIdempotent: (m) => m.name === "InitWorkspace" }).initWorkspace({
      id: "ws-init-forced",
    });
    expect(p.calls).toBe(2);
  });

  it("does not retry without the retry option", async () => {
    for (const retry of [undefined, false]) {
      const id = `ws-no-retry-${retry}`;
      const p = plan(id, 2);
      const err = await rejection(client(retry).isWorkspaceExists({ id }));
      expect(err.code).toBe(Code.Unavailable);
      expect(p.calls).toBe(1);
    }
  });

  it("gives up after maxAttempts and surfaces the last error", async () => {
    for (const maxAttempts of [1, 2, 3]) {
      const id = `ws-max-${maxAttempts}`;
      const p = plan(id, 100);
      const err = await rejection(client({ ...fast, maxAttempts }).isWorkspaceExists({ id }));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toBe(`attempt ${maxAttempts} refused`);
      expect(p.calls).toBe(maxAttempts);
    }
  });

  it("only retries the retryable codes", async () => {
    const notFound = plan("ws-not-found", 2, Code.NotFound);
    const err = await rejection(client(fast).isWorkspaceExists({ id: "ws-not-found" }));
    expect(err.code).toBe(Code.NotFound);
    expect(notFound.calls).toBe(1);

    const exhausted = plan("ws-exhausted", 2, Code.ResourceExhausted);
    await client({ ...fast, retryableCodes: [Code.ResourceExhausted] }).isWorkspaceExists({
      id: "ws-exhausted",
    });
    expect(exhausted.calls).toBe(3);
  });
});

describe("retry and cancellation", () => {
  it("stops when the caller aborts during the backoff", async () => {
    const p = plan("ws-abort-backoff", 100);
    const controller = new AbortController();
    // A long backoff that only the abort can cut short.
    const c = client({
      initialBackoffMs: 60_000,
      maxBackoffMs: 60_000,
      maxAttempts: 100,
      onRetry: () => controller.abort(),
    });
    const err = await rejection(
      c.isWorkspaceExists({ id: "ws-abort-backoff" }, { signal: controller.signal }),
    );
    expect(err.code).toBe(Code.Canceled);
    expect(p.calls).toBe(1);
  });

  it("stops when the caller aborts while a retry is in flight", async () => {
    const controller = new AbortController();
    const p = plan("ws-abort-inflight", 100, Code.Unavailable, (call) => {
      if (call === 2) controller.abort();
    });
    const err = await rejection(
      client({ ...fast, maxAttempts: 100 }).isWorkspaceExists(
        { id: "ws-abort-inflight" },
        { signal: controller.signal },
      ),
    );
    expect(err.code).toBe(Code.Canceled);
    // A later call on the same server shows nothing kept retrying behind the caller's back.
    plan("ws-after-abort", 0);
    await client().isWorkspaceExists({ id: "ws-after-abort" });
    expect(p.calls).toBe(2);
  });

  it("reports the cancellation, not UNAVAILABLE, when the abort comes with a failed attempt", async () => {
    const p = plan("ws-abort-with-failure", 100);
    const controller = new AbortController();
    let retried = false;
    // Runs inside the retry interceptor: the attempt fails and the caller gives up at once.
    const abortOnFailure: Interceptor = (next) => async (req) => {
      try {
        return await next(req);
      } catch (e) {
        controller.abort();
        throw e;
      }
    };
    const c = createWorkspaceContentServiceClient(
      createDaemonTransport({
        address: server.address,
        interceptors: [abortOnFailure],
        retry: { ...fast, onRetry: () => (retried = true) },
      }),
    );
    const err = await rejection(
      c.isWorkspaceExists({ id: "ws-abort-with-failure" }, { signal: controller.signal }),
    );
    expect(err.code).toBe(Code.Canceled);
    expect(retried).toBe(false);
    expect(p.calls).toBe(1);
  });

  it("does not outlive the call's deadline", async () => {
    const p = plan("ws-deadline", Number.POSITIVE_INFINITY);
    const err = await rejection(
      client({ ...fast, maxAttempts: Number.MAX_SAFE_INTEGER }).isWorkspaceExists(
        { id: "ws-deadline" },
        { timeoutMs: 200 },
      ),
    );
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(p.calls).toBeGreaterThan(1);
  });
});

describe("retry over a Unix socket", () => {
  it("waits out a daemon.sock that does not exist yet", async () => {
    const dir = await mkdtemp(join(tmpdir(), "wsd-api-retry-"));
    const socketPath = join(dir, "daemon.sock");
    let late: Promise<TestServer> | undefined;
    try {
      const p = plan("ws-late-socket", 0);
      const c = createWorkspaceContentServiceClient(
        createDaemonTransport({
          address: `unix://${socketPath}`,
          retry: {
            ...fast,
            maxAttempts: 1000,
            // The daemon "comes back" once the client has seen the socket missing.
            onRetry: (info) => {
              expect(info.error.code).toBe(Code.Unavailable);
              late ??= startTestServer(routes, { socketPath });
            },
          },
        }),
      );
      expect((await c.isWorkspaceExists({ id: "ws-late-socket" })).exists).toBe(true);
      expect(late).toBeDefined();
      expect(p.calls).toBe(1);
    } finally {
      await (await late)?.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
