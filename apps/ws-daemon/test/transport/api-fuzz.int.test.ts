/**
 * Property-based fuzzing of every method of the three services (WorkspaceContentService on the
 * node API, InWorkspaceService and WorkspaceInfoService on a workspace's socket) against a real
 * in-process daemon whose workspace is a fake container (root: real namespaces). Generated
 * requests hold random and extreme values, unicode, NUL, long strings, unknown enum numbers and
 * unset oneofs, mixed with ids that exist and paths that point out of the working area.
 * Properties: never INTERNAL or UNKNOWN, nothing appears in or changes in a canary tree
 * outside the working area, and the daemon is healthy afterwards.
 */
import { lstat, mkdir, mkdtemp, readdir, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  ScalarType,
} from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  createDaemonTransport,
  InWorkspaceService,
  HealthCheckResponse_ServingStatus as Status,
  WorkspaceContentService,
  WorkspaceInfoService,
} from "@ws-daemon/api";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProcessRuntime } from "../../src/runtime/process-runtime.js";
import {
  type FakeContainer,
  isRoot,
  rootSkipReason,
  startContainer,
} from "../linux/support/fake-container.js";
import { ensureHelperBuilt } from "../linux/support/helper-binary.js";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";
import { messageInitArb } from "../support/proto-arbitrary.js";

if (!isRoot) console.warn(`[API fuzzing] skipped: ${rootSkipReason}`);

/** The whole suite's budget for generated calls; each service gets its share. */
const BUDGET_MS = 45_000;
const CALL_TIMEOUT_MS = 3000;
const WS = "ws-fuzz";
const OTHER = "ws-fuzz-2";

/** Every entry under `root` with its type, size and link target: what must not change. */
async function treeOf(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const st = await lstat(p);
      const link = st.isSymbolicLink() ? ` -> ${await readlink(p)}` : "";
      out.push(`${path.relative(root, p)} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}${link}`);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return out;
}

/** One call with a generated request; the status code it ended with (undefined = OK). */
async function callOnce(
  client: Client<DescService>,
  method: DescMethod,
  input: DescMessage,
  init: Record<string, unknown>,
): Promise<{ code: Code | undefined; message: string }> {
  const call = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[
    method.localName
  ];
  if (!call) throw new Error(`no client method ${method.localName}`);
  const request = create(input, init as never);
  try {
    if (method.methodKind === "server_streaming") {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 500);
      try {
        for await (const _ of call(request, { signal: abort.signal }) as AsyncIterable<unknown>) {
          // the first message or two tell enough; a watch may go on for ever
        }
      } finally {
        clearTimeout(timer);
      }
    } else {
      await call(request, { timeoutMs: CALL_TIMEOUT_MS });
    }
    return { code: undefined, message: "" };
  } catch (e) {
    const ce = ConnectError.from(e);
    return { code: ce.code, message: ce.rawMessage };
  }
}

describe.skipIf(!isRoot)("generated requests to every method", () => {
  let d: TestDaemon;
  let container: FakeContainer;
  let canary: string;
  let canaryBefore: string[];

  beforeAll(async () => {
    canary = await mkdtemp(path.join(tmpdir(), "wsd-fuzz-canary-"));
    await mkdir(path.join(canary, "sub"));
    await writeFile(path.join(canary, "keep.txt"), "canary");
    await writeFile(path.join(canary, "sub", "deep.txt"), "canary");
    await symlink("/etc", path.join(canary, "etc-link"));
    canaryBefore = await treeOf(canary);
    container = await startContainer([], []);
    d = await startTestDaemon({
      linux: { nsHelperPath: ensureHelperBuilt() },
      downloads: { allowPrivateNetworks: false },
      log: { level: "warn", format: "json" },
      health: { minFreeBytes: 0 },
      // the mutating in-workspace calls should reach the kernel, not stop at their rate limit
      limits: { inWorkspace: { mutatingCallBurst: 1_000_000, mutatingCallRefillMs: 1 } },
    });
    const runtime = d.daemon.runtime as ProcessRuntime;
    runtime.register(WS, container.rootPid);
    await ensureWorkspaces();
  }, 60_000);

  /** Generated DisposeWorkspace calls may remove the fixtures: bring them back between methods. */
  async function ensureWorkspaces(): Promise<void> {
    const { content } = d.clients();
    for (const id of [WS, OTHER]) {
      if ((await content.isWorkspaceExists({ id })).exists) continue;
      await content.initWorkspace({
        id,
        metadata: { owner: "o", metaId: id },
        initializer: { spec: { case: "empty", value: {} } },
      });
    }
    await d.daemon.sockets.ensure(WS);
  }

  afterAll(async () => {
    await d?.stop();
    await container?.stop();
    if (canary) await rm(canary, { recursive: true, force: true });
  });

  const interesting = () => {
    const area = path.dirname(d.daemon.manager.contentDir(WS));
    const fromWorkspace = path.relative(d.daemon.manager.contentDir(WS), canary);
    return {
      strings: [
        WS,
        OTHER,
        "",
        ".",
        "..",
        "/",
        "\0",
        canary,
        `${canary}/keep.txt`,
        `${canary}/etc-link`,
        fromWorkspace,
        `${fromWorkspace}/new`,
        `../${OTHER}`,
        area,
        "/etc",
        "/proc",
        "/sys",
        "/proc/sys",
        "/tmp",
        "o",
        "m",
        "http://127.0.0.1:1/x",
        "http://169.254.169.254/latest/meta-data",
        "https://example.invalid/r.git",
        `file://${canary}`,
        "ext::sh -c touch% /tmp/pwned",
        "wsd-backup:workspaces/o/ws-fuzz-2/backup/full",
        `sha256:${"0".repeat(64)}`,
        "10.0.0.1:/export",
        "core.autocrlf",
        "core.sshCommand",
      ],
    };
  };

  const services: { service: DescService; address: () => string }[] = [
    { service: WorkspaceContentService, address: () => d.daemon.address },
    { service: InWorkspaceService, address: () => `unix://${d.daemon.sockets.socketPath(WS)}` },
    { service: WorkspaceInfoService, address: () => `unix://${d.daemon.sockets.socketPath(WS)}` },
  ];
  const methods = services.flatMap(({ service, address }) =>
    service.methods.map((method) => ({ service, method, address })),
  );

  it("answers a request whose strings are 70,000 characters long with a status, not a torn-down connection", async () => {
    // found by the fuzzing below: MountNfs quoted its 70 kB source in the status message, the
    // status header outgrew what HTTP/2 allows, and the client saw INTERNAL (FRAME_SIZE_ERROR)
    const long = "a".repeat(70_000);
    for (const { service, method, address } of methods) {
      await ensureWorkspaces();
      const init: Record<string, unknown> = {};
      for (const field of method.input.fields) {
        if (field.fieldKind === "scalar" && field.scalar === ScalarType.STRING && !field.oneof) {
          init[field.localName] = long;
        }
      }
      if (method.input.fields.some((f) => f.localName === "pid")) init.pid = 1n;
      const client = createClient(service, createDaemonTransport({ address: address() }));
      const { code, message } = await callOnce(client, method, method.input, init);
      expect(code, `${method.name}: ${message.slice(0, 200)}`).not.toBe(Code.Internal);
      expect(code).not.toBe(Code.Unknown);
      expect(message.length).toBeLessThan(1100);
    }
  });

  it("never answers INTERNAL or UNKNOWN, writes nothing outside the working area, and stays healthy", async () => {
    const findings: string[] = [];
    const perMethodMs = BUDGET_MS / methods.length;
    let calls = 0;
    for (const { service, method, address } of methods) {
      await ensureWorkspaces();
      const client = createClient(service, createDaemonTransport({ address: address() }));
      await fc
        .assert(
          fc.asyncProperty(messageInitArb(method.input, interesting()), async (init) => {
            const { code, message } = await callOnce(client, method, method.input, init);
            calls++;
            if (code === Code.Internal || code === Code.Unknown) {
              findings.push(`${method.parent.name}.${method.name} ${Code[code]}: ${message}`);
              return false;
            }
            return true;
          }),
          {
            numRuns: 10_000,
            interruptAfterTimeLimit: perMethodMs,
            seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31),
          },
        )
        .catch((e: unknown) => {
          // the counterexample is in the message; collect and go on with the other methods
          findings.push(
            e instanceof Error ? e.message.split("\n").slice(0, 6).join("\n") : String(e),
          );
        });
    }
    console.log(`fuzz: ${calls} generated calls over ${methods.length} methods`);
    expect(findings).toEqual([]);
    expect(await treeOf(canary)).toEqual(canaryBefore);
    const { health, content } = d.clients();
    expect((await health.check({})).status).toBe(Status.SERVING);
    expect((await content.isWorkspaceExists({ id: OTHER })).exists).toBe(true);
  }, 120_000);
});
