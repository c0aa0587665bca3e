/**
 * Runs inside `unshare --net` (a network namespace of its own, see download-policy.int.test.ts):
 * gives the namespace's loopback device the public address 8.8.8.8 (only here; the host's network
 * is untouched), serves a "public" download server on it and an internal one on 127.0.0.1, runs
 * download initializers through a manager with the production network policy (no exception, no
 * injected fetch) and prints what happened as one JSON line.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WorkspaceContentManager } from "../../../src/content/index.js";
import { createContentStore } from "../../../src/storage/index.js";
import { HttpFileServer, sha256Digest } from "../../support/http-file-server.js";

const PUBLIC = "8.8.8.8";

execFileSync("ip", ["link", "set", "lo", "up"]);
execFileSync("ip", ["addr", "add", `${PUBLIC}/32`, "dev", "lo"]);

const origin = await HttpFileServer.start(PUBLIC);
const internal = await HttpFileServer.start("127.0.0.1");
const dir = await mkdtemp(join(tmpdir(), "wsd-netns-"));
const secret = internal.serve("/secret", "node-only secret");
const redirecting = origin.serve("/innocent", {
  body: "",
  status: 302,
  headers: { location: secret },
});
const plain = origin.serve("/file", "a public file");

const manager = await WorkspaceContentManager.open(
  { workingArea: join(dir, "area"), maxConcurrentInits: 1, maxConcurrentArchives: 1 },
  {
    store: createContentStore({ kind: "local", root: join(dir, "store") }),
    git: {
      clone: async () => undefined,
      bringToTarget: async () => undefined,
      status: async () => null,
    },
  },
);
const init = (id: string, url: string, body: string) =>
  manager.init({
    id,
    metadata: { owner: "o", metaId: id },
    initializer: {
      kind: "download",
      targetLocation: "",
      files: [{ url, filePath: "f", digest: sha256Digest(body) }],
    },
  });

const redirected = await init("redirected", redirecting, "node-only secret").then(
  () => ({ ok: true }),
  (err: { kind?: string; message?: string }) => ({
    ok: false,
    kind: err.kind,
    message: err.message,
  }),
);
const direct = await init("direct", plain, "a public file").then(
  async () => ({
    ok: true,
    content: await readFile(join(manager.contentDir("direct"), "f"), "utf8"),
  }),
  (err: { kind?: string; message?: string }) => ({
    ok: false,
    kind: err.kind,
    message: err.message,
  }),
);
await manager.shutdown(1000);
await origin.close();
await internal.close();
await rm(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    redirected,
    direct,
    originRequests: origin.requests,
    internalRequests: internal.requests,
  }),
);
