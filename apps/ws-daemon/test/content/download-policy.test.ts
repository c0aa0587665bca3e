import { createHash } from "node:crypto";
import { lstat } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import type { InitializerSpec, WorkspaceContentManager } from "../../src/content/index.js";
import { type NetworkPolicy, networkPolicy } from "../../src/platform/index.js";
import { sha256Digest } from "../support/http-file-server.js";
import { metadata, useContentArea, useFileServer } from "./fixtures.js";

/**
 * Issue 17, finding 5, through the manager. Two servers on one machine, both on loopback: the
 * download server the caller names (`origin`) and `internal`, which stands for everything only
 * the node should reach (loopback services, the node's network, the metadata service). The
 * test's policy is the production default (allowPrivateNetworks=false) with ONE exception: the
 * exact address and port of `origin`, so that the first hop can play a public server. Every
 * other hop is judged by the unmodified production policy. The production default without the
 * exception is tested too (it refuses the first hop).
 */
const origin = useFileServer();
const internal = useFileServer();
const area = useContentArea();

const SECRET = "node-only secret: aws_secret_access_key=...";

const allowingOnly = (port: number): NetworkPolicy => {
  const production = networkPolicy({ allowPrivateNetworks: false });
  return {
    refusal: (address, p) =>
      address === "127.0.0.1" && p === port ? undefined : production.refusal(address, p),
  };
};

const download = (url: string, digest: string): InitializerSpec => ({
  kind: "download",
  targetLocation: "",
  files: [{ url, filePath: "loot", digest }],
});

const open = (config: Record<string, unknown> = {}): Promise<WorkspaceContentManager> =>
  area.open({
    networkPolicy: allowingOnly(origin.port),
    config: { downloadAllowPrivateNetworks: false, ...config },
  });

const initError = (m: WorkspaceContentManager, id: string, spec: InitializerSpec) =>
  m.init({ id, metadata, initializer: spec }).catch((e: unknown) => e);

const redirect = (location: string) => ({ body: "", status: 302, headers: { location } });

describe("download redirects (attack)", () => {
  it("a redirect to 127.0.0.1 is refused: the internal server sees no request", async () => {
    const secret = internal.serve("/secret", SECRET);
    const url = origin.serve("/innocent", redirect(secret));
    const m = await open();
    const before = internal.requests.length;
    const err = await initError(m, "dl-loopback", download(url, sha256Digest(SECRET)));
    expect(err).toMatchObject({
      kind: "permission-denied",
      message: expect.stringContaining(
        `redirected to http://127.0.0.1:${internal.port}/secret: 127.0.0.1 is a loopback address, which the network policy refuses`,
      ),
    });
    expect(internal.requests.length).toBe(before);
    await expect(lstat(m.contentDir("dl-loopback"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("a redirect to the metadata service (169.254.169.254) is refused before connecting", async () => {
    const url = origin.serve(
      "/to-metadata",
      redirect("http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
    );
    const m = await open();
    const err = await initError(m, "dl-metadata", download(url, sha256Digest("x")));
    expect(err).toMatchObject({
      kind: "permission-denied",
      message: expect.stringContaining("metadata"),
    });
  });

  it("every hop is checked: allowed, allowed, then loopback is refused at the third", async () => {
    const secret = internal.serve("/secret-2", SECRET);
    const second = origin.serve("/hop-2", redirect(secret));
    const first = origin.serve("/hop-1", redirect(second));
    const m = await open();
    const before = internal.requests.length;
    const err = await initError(m, "dl-chain", download(first, sha256Digest(SECRET)));
    expect(err).toMatchObject({ kind: "permission-denied" });
    expect(origin.requests).toEqual(expect.arrayContaining(["/hop-1", "/hop-2"]));
    expect(internal.requests.length).toBe(before);
  });

  it("the production default refuses a download server on loopback itself", async () => {
    const url = internal.serve("/direct", SECRET);
    const m = await area.open({ config: { downloadAllowPrivateNetworks: false } });
    const before = internal.requests.length;
    const err = await initError(m, "dl-direct", download(url, sha256Digest(SECRET)));
    expect(err).toMatchObject({ kind: "permission-denied" });
    expect(internal.requests.length).toBe(before);
  });
});

describe("download size (attack)", () => {
  it("an endless body stops at the size limit, with the limit named and nothing left", async () => {
    const url = origin.serve("/endless", { body: Buffer.alloc(64 * 1024, "e"), endless: true });
    const m = await open({ downloadMaxBytes: 1024 * 1024 });
    const before = origin.requests.length;
    const err = await initError(m, "dl-endless", download(url, sha256Digest("x")));
    expect(err).toMatchObject({
      kind: "resource-exhausted",
      message: expect.stringMatching(/1048576 bytes.*downloads\.maxBytes/),
    });
    // Not retried: another attempt cannot make it smaller.
    expect(origin.requests.length - before).toBe(1);
    await expect(lstat(m.contentDir("dl-endless"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("a body announced larger than the limit is refused before it is read", async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, "b");
    const url = origin.serve("/big", body);
    const m = await open({ downloadMaxBytes: 1024 * 1024 });
    const err = await initError(m, "dl-big", download(url, sha256Digest(body)));
    expect(err).toMatchObject({
      kind: "resource-exhausted",
      message: expect.stringContaining("announces 2097152 bytes"),
    });
  });

  it("a body exactly at the limit is fine", async () => {
    const body = Buffer.alloc(1024 * 1024, "k");
    const url = origin.serve("/exact", body);
    const m = await open({ downloadMaxBytes: 1024 * 1024 });
    const record = await m.init({
      id: "dl-exact",
      metadata,
      initializer: download(url, sha256Digest(body)),
    });
    expect(record.state).toBe("available");
  });
});

describe("download digest mismatch", () => {
  it("does not echo the sha256 of what was fetched", async () => {
    const url = origin.serve("/other", SECRET);
    const m = await open();
    const err = await initError(m, "dl-oracle", download(url, sha256Digest("a guess")));
    expect(err).toMatchObject({ kind: "data-loss", message: expect.stringContaining("digest") });
    const fetched = createHash("sha256").update(SECRET).digest("hex");
    expect(String((err as Error).message)).not.toContain(fetched);
    expect(JSON.stringify(m.get("dl-oracle"))).not.toContain(fetched);
  });
});
