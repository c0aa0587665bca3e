/**
 * Every command against the generated mocks, in memory: what it sends, what it prints (text and
 * JSON) and its exit code.
 */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  CloneTargetMode,
  Code,
  GitAuthMethod,
  OperationPhase,
  HealthCheckResponse_ServingStatus as ServingStatus,
  WorkspaceContentState,
  WorkspaceOperation,
} from "@ws-daemon/api";
import {
  createHealthMock,
  createInWorkspaceServiceMock,
  createWorkspaceContentServiceMock,
  createWorkspaceInfoServiceMock,
} from "@ws-daemon/api-mocks";
import { describe, expect, it } from "vitest";
import { runCli } from "./support/run-cli.js";

const summary = {
  id: "ws-1",
  metadata: { owner: "alice", metaId: "proj" },
  state: WorkspaceContentState.AVAILABLE,
  sizeBytes: 3n * 1024n * 1024n,
  lastBackup: {
    url: "wsd-backup:workspaces/alice/proj",
    bytes: 1000n,
    finishedAt: timestampFromMs(0),
  },
};

describe("wsdctl commands against the mocks", () => {
  it("list: a table, or JSON; an empty daemon says so", async () => {
    const content = createWorkspaceContentServiceMock();
    content.listWorkspaces.returnsOnce({ workspaces: [summary] }).returns({ workspaces: [] });
    const text = await runCli(["list"], [content]);
    expect(text.code).toBe(0);
    expect(text.stdout.split("\n")[0]).toMatch(
      /^ID\s+OWNER\/META\s+STATE\s+SIZE\s+LAST BACKUP\s+RUNNING$/,
    );
    expect(text.stdout).toMatch(
      /ws-1\s+alice\/proj\s+available\s+3\.0 MiB\s+1970-01-01T00:00:00.000Z\s+-/,
    );
    const json = await runCli(["list", "-o", "json"], [content]);
    expect(JSON.parse(json.stdout)).toEqual({ workspaces: [] });
    content.listWorkspaces.returns({ workspaces: [] });
    expect((await runCli(["list"], [content])).stdout).toBe("no workspaces\n");
  });

  it("get: state and summary together; NOT_FOUND exits 69 with the status on stderr", async () => {
    const content = createWorkspaceContentServiceMock();
    content.getWorkspaceState.returnsOnce({
      state: WorkspaceContentState.AVAILABLE,
      metadata: summary.metadata,
      initSource: "from-backup",
    });
    content.listWorkspaces.returns({ workspaces: [summary] });
    const ok = await runCli(["get", "ws-1"], [content]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^id\s+ws-1$/m);
    expect(ok.stdout).toMatch(/^init source\s+from-backup$/m);
    expect(ok.stdout).toMatch(/^last backup\s+wsd-backup:workspaces\/alice\/proj \(1000 B\)$/m);
    content.getWorkspaceState.fails(Code.NotFound, "workspace ws-2 is unknown");
    const missing = await runCli(["get", "ws-2"], [content]);
    expect(missing).toMatchObject({ code: 69, stderr: "NOT_FOUND: workspace ws-2 is unknown\n" });
  });

  it("init git: every initializer option becomes the request; the password comes from the environment", async () => {
    const content = createWorkspaceContentServiceMock();
    const result = await runCli(
      [
        "init",
        "git",
        "ws-1",
        "--owner",
        "alice",
        "--meta-id",
        "proj",
        "--quota",
        "2GiB",
        "--remote",
        "https://git.example/p.git",
        "--upstream",
        "https://git.example/u.git",
        "--target-mode",
        "remote-branch",
        "--target",
        "dev",
        "--checkout-location",
        "p",
        "--full-clone",
        "--git-config",
        "core.autocrlf=false",
        "--auth",
        "basic",
        "--user",
        "bob",
        "--password-env",
        "GIT_TOKEN",
      ],
      [content],
      { env: { GIT_TOKEN: "s3cret" } },
    );
    expect(result).toMatchObject({ code: 0, stdout: "ws-1 is ready\n" });
    const request = content.initWorkspace.calls[0]?.request;
    expect(request?.storageQuotaBytes).toBe(2n * 1024n ** 3n);
    expect(request?.metadata).toMatchObject({ owner: "alice", metaId: "proj" });
    expect(request?.initializer?.spec).toMatchObject({
      case: "git",
      value: {
        remoteUri: "https://git.example/p.git",
        upstreamRemoteUri: "https://git.example/u.git",
        targetMode: CloneTargetMode.REMOTE_BRANCH,
        cloneTarget: "dev",
        checkoutLocation: "p",
        fullClone: true,
        config: {
          customConfig: { "core.autocrlf": "false" },
          authentication: GitAuthMethod.BASIC_AUTH,
          authUser: "bob",
          authPassword: "s3cret",
        },
      },
    });
  });

  it("init download, snapshot, backup, prebuild and empty send their initializers", async () => {
    const content = createWorkspaceContentServiceMock();
    const base = ["--owner", "o", "--meta-id", "m"];
    const cases: [string[], unknown][] = [
      [
        [
          "init",
          "download",
          "ws-d",
          ...base,
          "--file",
          "url=http://x/a,path=a.txt,digest=sha256:00",
          "--target-location",
          "dl",
        ],
        {
          case: "download",
          value: {
            targetLocation: "dl",
            files: [{ url: "http://x/a", filePath: "a.txt", digest: "sha256:00" }],
          },
        },
      ],
      [
        ["init", "snapshot", "ws-s", ...base, "--snapshot", "wsd-snapshot:x"],
        { case: "snapshot", value: { snapshot: "wsd-snapshot:x" } },
      ],
      [
        ["init", "backup", "ws-b", ...base, "--checkout-location", "p"],
        { case: "backup", value: { checkoutLocation: "p" } },
      ],
      [
        [
          "init",
          "prebuild",
          "ws-p",
          ...base,
          "--snapshot",
          "wsd-snapshot:pb",
          "--remote",
          "file:///r.git",
        ],
        {
          case: "prebuild",
          value: {
            prebuild: { snapshot: "wsd-snapshot:pb" },
            git: [{ remoteUri: "file:///r.git" }],
          },
        },
      ],
      [["init", "empty", "ws-e", ...base], { case: "empty", value: {} }],
    ];
    for (const [argv, spec] of cases) {
      const r = await runCli(argv, [content]);
      expect(r.code, `${argv.join(" ")}: ${r.stderr}`).toBe(0);
      expect(content.initWorkspace.calls.at(-1)?.request?.initializer?.spec).toMatchObject(
        spec as object,
      );
    }
  });

  it("init: missing required flags are usage errors (exit 2) and nothing is sent", async () => {
    const content = createWorkspaceContentServiceMock();
    const cases: [string[], string][] = [
      [["init", "git", "ws-1", "--owner", "o", "--meta-id", "m"], "--remote is required"],
      [["init", "empty", "ws-1", "--owner", "o"], "--meta-id is required"],
      [["init", "download", "ws-1", "--owner", "o", "--meta-id", "m"], "--file is required"],
      [
        ["init", "empty", "ws-1", "--owner", "o", "--meta-id", "m", "--quota", "lots"],
        '--quota is a size like 10GiB, got "lots"',
      ],
      [
        [
          "init",
          "git",
          "ws-1",
          "--owner",
          "o",
          "--meta-id",
          "m",
          "--remote",
          "r",
          "--password-env",
          "NOPE",
        ],
        "environment variable NOPE is not set",
      ],
      [
        [
          "init",
          "git",
          "ws-1",
          "--owner",
          "o",
          "--meta-id",
          "m",
          "--remote",
          "r",
          "--target-mode",
          "x",
        ],
        "--target-mode is one of",
      ],
      [["init", "nothing", "ws-1"], 'unknown command "init nothing"'],
    ];
    for (const [argv, message] of cases) {
      const r = await runCli(argv, [content]);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect(content.initWorkspace.calls).toHaveLength(0);
  });

  it("wait, snapshot, backup: the call, the printed result, and a failure's exit code", async () => {
    const content = createWorkspaceContentServiceMock();
    content.takeSnapshot.returns({ url: "wsd-snapshot:workspaces/o/m/snapshots/1" });
    content.backupWorkspace.returns({ url: "wsd-backup:workspaces/o/m" });
    expect(await runCli(["wait", "ws-1"], [content])).toMatchObject({
      code: 0,
      stdout: "ws-1 is ready\n",
    });
    expect(content.waitForInit.calls[0]?.request?.id).toBe("ws-1");
    const snap = await runCli(["snapshot", "ws-1", "--return-immediately"], [content]);
    expect(snap).toMatchObject({ code: 0, stdout: "wsd-snapshot:workspaces/o/m/snapshots/1\n" });
    expect(content.takeSnapshot.calls[0]?.request?.returnImmediately).toBe(true);
    const backup = await runCli(["backup", "ws-1", "-o", "json"], [content]);
    expect(JSON.parse(backup.stdout)).toEqual({ id: "ws-1", url: "wsd-backup:workspaces/o/m" });
    content.backupWorkspace.fails(Code.FailedPrecondition, "not ready");
    expect(await runCli(["backup", "ws-1"], [content])).toMatchObject({
      code: 73,
      stderr: "FAILED_PRECONDITION: not ready\n",
    });
    content.waitForInit.fails(Code.Unavailable, "gone");
    expect((await runCli(["wait", "ws-1"], [content])).code).toBe(78);
  });

  it("dispose prints the git status; DATA_LOSS exits 79", async () => {
    const content = createWorkspaceContentServiceMock();
    content.disposeWorkspace.returnsOnce({
      gitStatus: {
        branch: "main",
        latestCommit: "abc123",
        uncommittedFiles: ["a.txt"],
        totalUncommittedFiles: 3n,
        unpushedCommits: ["abc123 wip"],
        totalUnpushedCommits: 1n,
      },
    });
    const r = await runCli(["dispose", "ws-1", "--backup"], [content]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "branch main at abc123",
        "uncommitted files: 3",
        "  a.txt",
        "  ... and 2 more",
        "untracked files: 0",
        "unpushed commits: 1",
        "  abc123 wip",
        "",
      ].join("\n"),
    );
    expect(content.disposeWorkspace.calls[0]?.request).toMatchObject({ id: "ws-1", backup: true });
    expect((await runCli(["dispose", "ws-1"], [content])).stdout).toBe(
      "ws-1 disposed (no git checkout)\n",
    );
    content.disposeWorkspace.fails(Code.DataLoss, "final backup failed; content was kept");
    expect((await runCli(["dispose", "ws-1", "--backup"], [content])).code).toBe(79);
  });

  it("watch: plain lines when not a terminal, JSON lines with -o json, the outcome's exit code", async () => {
    const content = createWorkspaceContentServiceMock();
    const events = [
      {
        event: {
          case: "snapshot" as const,
          value: {
            workspace: {
              id: "ws-1",
              state: WorkspaceContentState.SETTING_UP,
              operation: WorkspaceOperation.INIT,
            },
          },
        },
      },
      {
        event: {
          case: "progress" as const,
          value: {
            operation: WorkspaceOperation.INIT,
            phase: OperationPhase.RESTORING,
            initializer: "backup",
            bytesDone: 512n,
            bytesTotal: 1024n,
            bytesPerSecond: 2048,
            etaMs: 250n,
          },
        },
      },
      {
        event: {
          case: "stateChange" as const,
          value: { from: WorkspaceContentState.SETTING_UP, to: WorkspaceContentState.AVAILABLE },
        },
      },
      {
        event: {
          case: "operationFinished" as const,
          value: { operation: WorkspaceOperation.INIT, elapsedMs: 1500n },
        },
      },
    ];
    content.watchWorkspace.returnsOnce(events);
    const text = await runCli(["watch", "ws-1"], [content]);
    expect(text.code).toBe(0);
    expect(text.stdout.split("\n")).toEqual([
      "ws-1: setting-up",
      "ws-1: init restoring (backup) 50%, 512 B/1.0 KiB, 2.0 KiB/s, 250ms left",
      "ws-1: setting-up -> available",
      "ws-1: init done in 1.5s",
      "",
    ]);
    content.watchWorkspace.returnsOnce(events);
    const json = await runCli(["watch", "ws-1", "-o", "json", "--follow"], [content]);
    const lines = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatchObject({
      progress: { phase: "OPERATION_PHASE_RESTORING", bytesDone: "512" },
    });
    expect(content.watchWorkspace.calls[1]?.request?.follow).toBe(true);
    content.watchWorkspace.returnsOnce([
      {
        event: {
          case: "operationFinished",
          value: {
            operation: WorkspaceOperation.BACKUP,
            code: Code.DataLoss,
            message: "disk full",
          },
        },
      },
    ]);
    const failed = await runCli(["watch", "ws-1"], [content]);
    expect(failed.code).toBe(79);
    expect(failed.stdout).toContain("ws-1: backup failed: DATA_LOSS: disk full");
  });

  it("--watch on an operation: progress on stderr, the result on stdout", async () => {
    const content = createWorkspaceContentServiceMock();
    const live = content.watchWorkspace.live();
    content.takeSnapshot.implement(async () => {
      await live.opened;
      live.send({
        event: { case: "operationStarted", value: { operation: WorkspaceOperation.SNAPSHOT } },
      });
      live.send({
        event: {
          case: "progress",
          value: {
            operation: WorkspaceOperation.SNAPSHOT,
            phase: OperationPhase.ARCHIVING,
            filesDone: 5n,
            filesTotal: 10n,
          },
        },
      });
      live.send({
        event: {
          case: "operationFinished",
          value: { operation: WorkspaceOperation.SNAPSHOT, url: "wsd-snapshot:s" },
        },
      });
      return { url: "wsd-snapshot:s" };
    });
    const r = await runCli(["snapshot", "ws-1", "--watch"], [content]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("wsd-snapshot:s\n");
    expect(r.stderr).toContain("ws-1: snapshot archiving 50%, 5/10 files");
    expect(r.stderr).toContain("ws-1: snapshot done");
    expect(content.watchWorkspace.calls[0]?.request).toMatchObject({
      id: "ws-1",
      follow: true,
      awaitCreation: true,
    });
    await live.closed;
  });

  it("health: SERVING exits 0, NOT_SERVING 1", async () => {
    const health = createHealthMock();
    health.check
      .returnsOnce({ status: ServingStatus.SERVING })
      .returns({ status: ServingStatus.NOT_SERVING });
    expect(await runCli(["health"], [health])).toMatchObject({ code: 0, stdout: "SERVING\n" });
    const r = await runCli(
      ["health", "--service", "wsdaemon.WorkspaceContentService", "-o", "json"],
      [health],
    );
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      service: "wsdaemon.WorkspaceContentService",
      status: "NOT_SERVING",
    });
  });

  it("iws: every in-workspace call, its JSON answer and its status", async () => {
    const iws = createInWorkspaceServiceMock();
    const info = createWorkspaceInfoServiceMock();
    iws.writeIDMapping.returns({ message: "ok", errorCode: 0 });
    info.workspaceInfo.returns({ resources: { cpu: { used: 5n, limit: 10n } } });
    const mocks = [iws, info];
    const mapped = await runCli(
      ["iws", "write-id-mapping", "--pid", "42", "--gid", "--map", "0:100000:65536"],
      mocks,
    );
    expect(mapped.code).toBe(0);
    expect(JSON.parse(mapped.stdout)).toEqual({ message: "ok", errorCode: 0 });
    // a value may start with a dash: the daemon, not the command line, judges a negative pid
    expect(
      (await runCli(["iws", "mount-proc", "--pid", "-5", "--target", "/proc"], mocks)).code,
    ).toBe(0);
    expect(iws.mountProc.calls[0]?.request?.pid).toBe(-5n);
    iws.mountProc.reset();
    expect(iws.writeIDMapping.calls[0]?.request).toMatchObject({
      pid: 42n,
      gid: true,
      mapping: [{ containerId: 0, hostId: 100000, size: 65536 }],
    });
    const infoOut = await runCli(["iws", "workspace-info"], mocks);
    expect(JSON.parse(infoOut.stdout)).toMatchObject({
      resources: { cpu: { used: "5", limit: "10" } },
    });
    for (const argv of [
      ["iws", "prepare-for-userns"],
      ["iws", "evacuate-cgroup"],
      ["iws", "teardown"],
      ["iws", "wiping-teardown", "--wipe"],
      ["iws", "mount-proc", "--pid", "1", "--target", "/proc"],
      ["iws", "umount-proc", "--pid", "1", "--target", "/proc"],
      ["iws", "mount-sysfs", "--pid", "1", "--target", "/sys"],
      ["iws", "umount-sysfs", "--pid", "1", "--target", "/sys"],
      ["iws", "mount-nfs", "--pid", "1", "--source", "h:/e", "--target", "/mnt", "--args", "ro"],
      ["iws", "umount-nfs", "--pid", "1", "--target", "/mnt"],
      ["iws", "setup-pair-veths", "--pid", "1"],
      ["iws", "workspace-info", "--via", "in-workspace"],
    ]) {
      const r = await runCli(argv, mocks);
      expect(r.code, `${argv.join(" ")}: ${r.stderr}`).toBe(0);
    }
    expect(iws.$calls().map((c) => c.rpc)).toContain("WipingTeardown");
    expect(iws.wipingTeardown.calls[0]?.request?.doWipe).toBe(true);
    iws.teardown.fails(Code.ResourceExhausted, "can be used only once");
    expect(await runCli(["iws", "teardown"], mocks)).toMatchObject({
      code: 72,
      stderr: "RESOURCE_EXHAUSTED: can be used only once\n",
    });
    for (const [argv, message] of [
      [["iws", "setup-pair-veths"], "--pid is required"],
      [
        ["iws", "mount-proc", "--pid", "one", "--target", "/proc"],
        '--pid must be an integer, got "one"',
      ],
      [
        ["iws", "write-id-mapping", "--pid", "1", "--map", "0:100000"],
        '--map entries are container:host:size, got "0:100000"',
      ],
      [["iws", "teardown", "extra"], 'unexpected argument "extra"'],
    ] as const) {
      expect(await runCli([...argv], mocks)).toMatchObject({
        code: 2,
        stderr: `wsdctl: ${message}\n`,
      });
    }
  });
});
