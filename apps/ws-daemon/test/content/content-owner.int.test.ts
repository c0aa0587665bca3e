import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { workspaceContentOwner } from "../../src/linux/index.js";
import { isRoot } from "../support/env.js";
import { sha256Digest } from "../support/http-file-server.js";
import { metadata, useContentArea, useFileServer } from "./fixtures.js";

if (!isRoot) console.warn("[content owner tests] skipped: chown needs root");

const area = useContentArea();
const server = useFileServer();

describe.skipIf(!isRoot)("content belongs to the workspace user (issue 11)", () => {
  it("user-namespaced (133332): directories, downloads and both ready files the daemon creates", async () => {
    const owner = workspaceContentOwner({ uid: 33333, gid: 33333 }, true);
    expect(owner).toEqual({ uid: 133332, gid: 133332 });
    const manager = await area.open({ config: { contentOwner: owner, gitpodReadyFile: true } });
    const url = server.serve("/tool", "#!/bin/sh\n");
    await manager.init({
      id: "owned",
      metadata,
      initializer: {
        kind: "download",
        targetLocation: "bin/tools",
        files: [{ url, filePath: "nested/tool", digest: sha256Digest("#!/bin/sh\n") }],
      },
    });
    const dir = manager.contentDir("owned");
    for (const rel of [
      ".",
      "bin",
      "bin/tools",
      "bin/tools/nested",
      "bin/tools/nested/tool",
      ".ws-daemon",
      ".ws-daemon/ready.json",
      ".gitpod",
      ".gitpod/ready",
    ]) {
      const st = await lstat(join(dir, rel));
      expect({ rel, uid: st.uid, gid: st.gid }).toEqual({ rel, uid: 133332, gid: 133332 });
    }
  });

  it("not user-namespaced: the workspace user 33333 itself", async () => {
    const owner = workspaceContentOwner({ uid: 33333, gid: 33333 }, false);
    const manager = await area.open({ config: { contentOwner: owner } });
    const url = server.serve("/f", "x");
    await manager.init({
      id: "plain",
      metadata,
      initializer: {
        kind: "download",
        targetLocation: "d",
        files: [{ url, filePath: "f", digest: sha256Digest("x") }],
      },
    });
    for (const rel of ["d", "d/f", ".ws-daemon/ready.json"]) {
      const st = await lstat(join(manager.contentDir("plain"), rel));
      expect({ rel, uid: st.uid, gid: st.gid }).toEqual({ rel, uid: 33333, gid: 33333 });
    }
  });
});
