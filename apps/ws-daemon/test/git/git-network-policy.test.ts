import { existsSync } from "node:fs";
import { appendFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_OTS_BYTES } from "../../src/git/git-credentials.js";
import { GitError } from "../../src/git/index.js";
import { type NetworkPolicy, networkPolicy, type ResolveHost } from "../../src/platform/index.js";
import { createRepoWithSubmodule } from "../security/git-attack-fixtures.js";
import { GitHttpServer } from "../support/git-http-server.js";
import {
  createFixtureRepo,
  type FixtureRepo,
  gitAsync,
  gitSync,
} from "../support/git-repo-fixtures.js";
import { catchError, GitTestEnv } from "./git-test-env.js";

/**
 * Issue 17: the download address policy applied to git's http(s) remotes. Two git servers on
 * loopback: `origin`, the server the caller names, and `internal`, which stands for everything
 * only the node should reach (loopback services, the node's network, the metadata service).
 * The test's policy is the production default (allowPrivateNetworks=false) with ONE exception:
 * origin's exact address and port, so that origin can play a public server. Every other
 * connection is judged by the unmodified production policy. Each attack asserts that internal
 * saw no request at all.
 */
let env: GitTestEnv;
let origin: GitHttpServer;
let internal: GitHttpServer;
let redirector: Server;
let project: FixtureRepo;

const production = networkPolicy({ allowPrivateNetworks: false });
const allowingOnly = (...ports: number[]): NetworkPolicy => ({
  refusal: (address, p) =>
    address === "127.0.0.1" && ports.includes(p) ? undefined : production.refusal(address, p),
});
const port = (s: Server) => (s.address() as AddressInfo).port;
const originPort = () => Number(new URL(origin.baseUrl).port);

/** Answers every request with a redirect to the same path on `internal`. */
const startRedirector = async (): Promise<Server> => {
  const server = createServer((req, res) => {
    res.writeHead(302, { location: `${internal.baseUrl}${req.url ?? "/"}` }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
};

beforeAll(async () => {
  env = await GitTestEnv.create();
  project = await createFixtureRepo(env.repos, "project");
  await createFixtureRepo(env.repos, "sub");
  origin = await GitHttpServer.start({ projectRoot: env.repos });
  internal = await GitHttpServer.start({ projectRoot: env.repos });
  redirector = await startRedirector();
  const subCommit = gitSync(join(env.repos, "sub.git"), ["rev-parse", "main"]).trim();
  // the superproject is served by origin; its submodule lives on internal
  await createRepoWithSubmodule(env.repos, "withsub", internal.repoUrl("sub.git"), subCommit);
});

afterAll(async () => {
  await origin?.close();
  await internal?.close();
  redirector?.closeAllConnections();
  await new Promise((resolve) => redirector?.close(resolve));
  await env?.dispose();
});

/** Runs `attack` and asserts that internal saw no request while it ran. */
const untouched = async <T>(attack: () => Promise<T>): Promise<T> => {
  const before = internal.requests.length;
  const result = await attack();
  expect(internal.requests.slice(before)).toEqual([]);
  return result;
};

const refusedClone = async (remoteUri: string, policy: NetworkPolicy, resolve?: ResolveHost) => {
  const spec = env.spec(remoteUri);
  const client = env.client({ networkPolicy: policy, ...(resolve ? { resolve } : {}) });
  const err = await untouched(() => catchError(client.clone(spec)));
  expect(existsSync(spec.checkoutDir)).toBe(false);
  return err;
};

describe("git http(s) remotes and the network policy (attack)", () => {
  it("an http remote at 127.0.0.1 is refused before git starts (PERMISSION_DENIED, as downloads)", async () => {
    const err = await refusedClone(internal.repoUrl("project.git"), production);
    expect(err).toMatchObject({
      kind: "permission-denied",
      message: expect.stringContaining("127.0.0.1 is a loopback address"),
    });
  });

  it("the metadata service (169.254.169.254) is refused, also where private networks are allowed", async () => {
    const relaxed = networkPolicy({ allowPrivateNetworks: true });
    const err = await refusedClone("http://169.254.169.254/latest/repo.git", relaxed);
    expect(err).toMatchObject({
      kind: "permission-denied",
      message: expect.stringContaining("metadata"),
    });
  });

  it("a name that resolves to loopback is refused (localhost, from /etc/hosts)", async () => {
    const err = await refusedClone(
      `http://localhost:${new URL(internal.baseUrl).port}/git/project.git`,
      production,
    );
    expect(err).toMatchObject({
      kind: "permission-denied",
      message: expect.stringContaining("localhost resolves to"),
    });
  });

  it("one refused address among a name's answers refuses the name", async () => {
    const resolve: ResolveHost = async () => [
      { address: "127.0.0.1", family: 4 },
      { address: "10.1.2.3", family: 4 },
    ];
    const err = await refusedClone(
      `http://git.example.test:${originPort()}/git/project.git`,
      allowingOnly(originPort()),
      resolve,
    );
    expect(err).toMatchObject({
      kind: "permission-denied",
      message: expect.stringContaining("10.1.2.3"),
    });
  });

  it("git connects to the address that was checked, not to what DNS says later", async () => {
    // Only the daemon's resolver knows this name; the system's does not. The clone works only
    // because git is told the checked address (http.curloptResolve) and does not resolve again.
    let asked = 0;
    const resolve: ResolveHost = async () => {
      asked++;
      return [{ address: "127.0.0.1", family: 4 }];
    };
    const spec = env.spec(`http://git.example.test:${originPort()}/git/project.git`);
    const client = env.client({ networkPolicy: allowingOnly(originPort()), resolve });
    await untouched(() => client.clone(spec));
    expect(gitSync(spec.checkoutDir, ["rev-parse", "HEAD"]).trim()).toBe(
      project.commits.main?.at(-1),
    );
    expect(asked).toBe(1);
  });

  it("a redirect from an allowed server to a loopback one is not followed", async () => {
    const spec = env.spec(`http://127.0.0.1:${port(redirector)}/git/project.git`);
    const client = env.client({ networkPolicy: allowingOnly(port(redirector)) });
    const err = await untouched(() => catchError(client.clone(spec)));
    expect(err).toBeInstanceOf(GitError);
    expect(existsSync(spec.checkoutDir)).toBe(false);
  });

  it("a submodule on a refused address is not fetched; the checkout itself succeeds", async () => {
    const spec = env.spec(origin.repoUrl("withsub.git"));
    const client = env.client({ networkPolicy: allowingOnly(originPort()) });
    await untouched(() => client.clone(spec));
    expect(existsSync(join(spec.checkoutDir, ".gitmodules"))).toBe(true);
    expect(existsSync(join(spec.checkoutDir, "sub", "README.md"))).toBe(false);
    expect(env.logs).toContainEqual(
      expect.objectContaining({
        level: "warn",
        message: expect.stringContaining("submodule"),
        fields: expect.objectContaining({ url: internal.repoUrl("sub.git") }),
      }),
    );
  });

  it("git:// and ssh remotes are checked too (before git starts; git resolves them itself)", async () => {
    for (const uri of [
      "git://127.0.0.1/project.git",
      "ssh://git@localhost/project.git",
      "git@localhost:project.git",
      "ssh://[::1]:2222/project.git",
    ]) {
      const err = await refusedClone(uri, production);
      expect(err, uri).toMatchObject({ kind: "permission-denied" });
    }
  });

  it("an upstream remote on a refused address fails the clone before anything is fetched", async () => {
    const spec = env.spec(origin.repoUrl("project.git"), {
      upstreamRemoteUri: internal.repoUrl("sub.git"),
    });
    const client = env.client({ networkPolicy: allowingOnly(originPort()) });
    const err = await untouched(() => catchError(client.clone(spec)));
    expect(err).toMatchObject({ kind: "permission-denied" });
  });
});

describe("the one-time secret URL and the network policy (attack)", () => {
  const cloneWithOts = (otsUrl: string, policy: NetworkPolicy) =>
    catchError(
      env
        .client({ networkPolicy: policy })
        .clone(env.spec(origin.repoUrl("project.git"), { auth: { kind: "basic-ots", otsUrl } })),
    );

  it("a one-time secret URL on 127.0.0.1 is refused (PERMISSION_DENIED) and never fetched", async () => {
    const ots = internal.createOts("user", "password");
    const err = await untouched(() => cloneWithOts(ots, allowingOnly(originPort())));
    expect(err).toMatchObject({ kind: "permission-denied" });
    expect(internal.otsHits(ots)).toBe(0);
    // the URL is the capability: not even its path shows
    expect(err.message).not.toContain(new URL(ots).pathname);
  });

  it("a redirect of the one-time secret URL is not followed, not even to an allowed server", async () => {
    const ots = internal.createOts("user", "password");
    const redirected = `http://127.0.0.1:${port(redirector)}${new URL(ots).pathname}`;
    const err = await untouched(() =>
      cloneWithOts(redirected, allowingOnly(originPort(), port(redirector))),
    );
    expect(err).toMatchObject({ kind: "unauthenticated" });
    expect(internal.otsHits(ots)).toBe(0);
    expect(err.message).not.toContain(new URL(ots).pathname);
  });

  it("an endless answer stops at the size limit", async () => {
    let sent = 0;
    const endless = createServer((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(16 * 1024, "a");
      const pump = () => {
        while (!res.destroyed && sent < 64 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed && sent < 64 * 1024 * 1024) res.once("drain", pump);
        else res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => endless.listen(0, "127.0.0.1", resolve));
    try {
      const err = await cloneWithOts(
        `http://127.0.0.1:${port(endless)}/ots/endless`,
        allowingOnly(originPort(), port(endless)),
      );
      expect(err).toMatchObject({
        kind: "unauthenticated",
        message: expect.stringContaining(`larger than ${MAX_OTS_BYTES} bytes`),
      });
      expect(sent).toBeLessThan(64 * 1024 * 1024);
    } finally {
      endless.closeAllConnections();
      await new Promise((resolve) => endless.close(resolve));
    }
  });
});

describe("a prebuild's repository configuration cannot take git elsewhere (attack)", () => {
  /** A checkout of origin's project, as a restored prebuild snapshot, with `config` appended. */
  const snapshotWith = async (config: string): Promise<string> => {
    const dir = env.checkoutDir();
    // async: the server runs in this process
    await gitAsync(env.root, ["clone", "-q", "--depth", "1", origin.repoUrl("project.git"), dir]);
    await appendFile(join(dir, ".git", "config"), config);
    return dir;
  };

  const bringToTarget = async (config: string) => {
    const checkoutDir = await snapshotWith(config);
    const spec = env.spec(origin.repoUrl("project.git"), {
      checkoutDir,
      targetMode: "remote-branch",
      cloneTarget: "feature",
    });
    const client = env.client({ networkPolicy: allowingOnly(originPort()) });
    return untouched(() => catchError(client.bringToTarget(spec)));
  };

  it("url.<internal>.insteadOf=<origin> is refused", async () => {
    const err = await bringToTarget(
      `[url "${internal.baseUrl}/"]\n\tinsteadOf = ${origin.baseUrl}/\n`,
    );
    expect(err).toMatchObject({
      kind: "permission-denied",
      message: expect.stringContaining("origin"),
    });
  });

  it("http.<url>.proxy pointing at an internal server is refused", async () => {
    const err = await bringToTarget(`[http "${origin.baseUrl}/"]\n\tproxy = ${internal.baseUrl}\n`);
    expect(err).toMatchObject({
      kind: "permission-denied",
      message: expect.stringContaining("proxy"),
    });
  });

  it("remote.origin.proxy pointing at an internal server is refused", async () => {
    const err = await bringToTarget(`[remote "origin"]\n\tproxy = ${internal.baseUrl}\n`);
    expect(err).toMatchObject({ kind: "permission-denied" });
  });

  it("http.<url>.curloptResolve and http.<url>.followRedirects are refused", async () => {
    for (const key of [
      `[http "${origin.baseUrl}/"]\n\tcurloptResolve = +example.test:80:127.0.0.1\n`,
      `[http "${origin.baseUrl}/"]\n\tfollowRedirects = true\n`,
    ]) {
      const err = await bringToTarget(key);
      expect(err, key).toMatchObject({ kind: "permission-denied" });
    }
  });

  it("the same settings without a URL lose to the daemon's own (the checkout works)", async () => {
    const checkoutDir = await snapshotWith(
      `[http]\n\tproxy = ${internal.baseUrl}\n\tcurloptResolve = 127.0.0.1:${originPort()}:127.0.0.2\n\tfollowRedirects = true\n`,
    );
    const spec = env.spec(origin.repoUrl("project.git"), {
      checkoutDir,
      targetMode: "remote-branch",
      cloneTarget: "feature",
    });
    const client = env.client({ networkPolicy: allowingOnly(originPort()) });
    const result = await untouched(() => client.bringToTarget(spec));
    expect(result.commitAfter).toBe(project.commits.feature?.at(-1));
  });
});
