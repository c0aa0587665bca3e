import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Code, statusOf, WorkspaceContentState } from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";

/**
 * Issue 10: with the defaults, a caller cannot make the daemon read the node's own files, neither
 * through a file:// git remote (git.allowFileRemotes, off) nor through a download URL of another
 * scheme than http(s).
 */
describe("sources the content API refuses by default", () => {
  let d: TestDaemon;
  let hostDir: string;
  beforeAll(async () => {
    d = await startTestDaemon();
    hostDir = mkdtempSync(path.join(tmpdir(), "wsd-host-files-"));
    writeFileSync(path.join(hostDir, "secret.txt"), "host secret\n");
  });
  afterAll(async () => {
    await d?.stop();
    rmSync(hostDir, { recursive: true, force: true });
  });

  it("refuses a file:// git remote", async () => {
    const { content } = d.clients();
    const err = await content
      .initWorkspace({
        id: "ws-file-remote",
        metadata: { owner: "o", metaId: "file-remote" },
        initializer: {
          spec: {
            case: "git",
            value: { remoteUri: `file://${hostDir}`, checkoutLocation: "repo" },
          },
        },
      })
      .catch(statusOf);
    expect(err).toMatchObject({ code: Code.InvalidArgument });
    expect((await content.getWorkspaceState({ id: "ws-file-remote" })).state).toBe(
      WorkspaceContentState.NONE,
    );
  });

  it.each([`file://${"/etc/hostname"}`, "ftp://127.0.0.1/x", "data:,host%20secret"])(
    "refuses the download URL %s",
    async (url) => {
      const { content } = d.clients();
      const id = `ws-dl-${url.split(":")[0]}`;
      const err = await content
        .initWorkspace({
          id,
          metadata: { owner: "o", metaId: id },
          initializer: {
            spec: {
              case: "download",
              value: {
                targetLocation: "",
                files: [{ url, filePath: "x", digest: `sha256:${"0".repeat(64)}` }],
              },
            },
          },
        })
        .catch(statusOf);
      expect(err).toMatchObject({ code: Code.InvalidArgument });
      expect((await content.isWorkspaceExists({ id })).exists).toBe(false);
    },
  );
});
