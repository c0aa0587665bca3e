import { readdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FetchFn, GitError, redact } from "../../src/git/index.js";
import type { GitAuth } from "../../src/git/types.js";
import type { Clock } from "../../src/platform/index.js";
import { GitHttpServer } from "../support/git-http-server.js";
import { createFixtureRepo, type FixtureRepo, gitSync } from "../support/git-repo-fixtures.js";
import { catchError, filesContaining, GitTestEnv } from "./git-test-env.js";

// Characters that break naive quoting in shells, URLs and git's credential protocol.
const USER = "alice";
const PASSWORD = `pa:ss w0rd$HOME\\n'"%40@tok-${Date.now()}`;
const NETWORK_SUBCOMMANDS = ["clone", "fetch", "ls-remote", "submodule"];

let env: GitTestEnv;
let server: GitHttpServer;
let repo: FixtureRepo;

beforeAll(async () => {
  env = await GitTestEnv.create();
  repo = await createFixtureRepo(env.repos, "private");
  server = await GitHttpServer.start({
    projectRoot: env.repos,
    auth: { user: USER, password: PASSWORD },
  });
});

afterAll(async () => {
  await server?.close();
  await env?.dispose();
});

/** The secret must be nowhere but in the environment of the git processes that talk to origin. */
const expectSecretNowhere = async (secret: string, checkoutDir?: string) => {
  for (const request of server.requests) {
    expect(request.url).not.toContain(secret);
    expect(request.url).not.toContain(encodeURIComponent(secret));
  }
  for (const call of env.runner.calls) {
    for (const arg of call.args) expect(arg).not.toContain(secret);
    const envHasSecret = Object.values(call.env).some((v) => v.includes(secret));
    if (envHasSecret) expect(call.args.some((a) => NETWORK_SUBCOMMANDS.includes(a))).toBe(true);
  }
  expect(JSON.stringify(env.logs)).not.toContain(secret);
  expect(await readdir(env.tempRoot)).toEqual([]);
  if (checkoutDir !== undefined) expect(await filesContaining(checkoutDir, secret)).toEqual([]);
};

describe("basic auth", () => {
  it("clones with correct credentials, which are left nowhere", async () => {
    const spec = env.spec(server.repoUrl(repo.name), {
      auth: { kind: "basic", user: USER, password: PASSWORD },
      targetMode: "remote-branch",
      cloneTarget: "feature",
    });
    await env.client().clone(spec);
    expect(gitSync(spec.checkoutDir, ["rev-parse", "HEAD"]).trim()).toBe(
      repo.commits.feature?.at(-1),
    );
    expect(server.requests.some((r) => r.authUser === USER && r.status === 200)).toBe(true);
    expect(gitSync(spec.checkoutDir, ["remote", "get-url", "origin"]).trim()).toBe(
      server.repoUrl(repo.name),
    );
    await expectSecretNowhere(PASSWORD, spec.checkoutDir);
  });

  it("a wrong password is an auth error whose message holds no secret", async () => {
    const wrong = `wrong-${PASSWORD}`;
    const spec = env.spec(server.repoUrl(repo.name), {
      auth: { kind: "basic", user: USER, password: wrong },
    });
    const err = await catchError(env.client().clone(spec));
    expect(err).toBeInstanceOf(GitError);
    expect((err as GitError).reason).toBe("auth");
    expect(err.message).not.toContain(wrong);
    expect((err as GitError).detail ?? "").not.toContain(wrong);
    await expectSecretNowhere(wrong);
  });

  it("no credentials for a private repository is an auth error (no prompt, no hang)", async () => {
    const err = await catchError(env.client().clone(env.spec(server.repoUrl(repo.name))));
    expect((err as GitError).reason).toBe("auth");
  });
});

describe("basic auth with a one-time secret", () => {
  it("fetches the secret once, clones, and leaves it nowhere", async () => {
    const otsUrl = server.createOts(USER, PASSWORD);
    const auth: GitAuth = { kind: "basic-ots", otsUrl };
    const spec = env.spec(server.repoUrl(repo.name), { auth, fullClone: true });
    await env.client().clone(spec);
    expect(server.otsHits(otsUrl)).toBe(1);
    expect(Number(gitSync(spec.checkoutDir, ["rev-list", "--count", "HEAD"]))).toBe(3);
    await expectSecretNowhere(PASSWORD, spec.checkoutDir);
    for (const call of env.runner.calls)
      for (const arg of call.args) expect(arg).not.toContain(otsUrl);
  });

  it("reuses the fetched secret for the same auth object (the URL works only once)", async () => {
    const otsUrl = server.createOts(USER, PASSWORD);
    const auth: GitAuth = { kind: "basic-ots", otsUrl };
    const client = env.client();
    await client.clone(env.spec(server.repoUrl(repo.name), { auth }));
    const restored = env.spec(server.repoUrl(repo.name), { auth });
    await client.clone(restored);
    expect(server.otsHits(otsUrl)).toBe(1);
    await expectSecretNowhere(PASSWORD, restored.checkoutDir);
  });

  it("a consumed or unknown one-time secret is an auth error", async () => {
    const otsUrl = server.createOts(USER, PASSWORD);
    await fetch(otsUrl); // someone else consumed it
    const spec = env.spec(server.repoUrl(repo.name), { auth: { kind: "basic-ots", otsUrl } });
    const err = await catchError(env.client({ otsRetryDelayMs: 1 }).clone(spec));
    expect((err as GitError).reason).toBe("auth");
    expect(err.message).toContain("one-time secret");
    expect(err.message).not.toContain(otsUrl);
    expect(server.otsHits(otsUrl)).toBe(2); // 404 is final: not retried
  });

  it("a 5xx answer is asked again after a constant delay, up to otsAttempts", async () => {
    const delays: number[] = [];
    const clock: Clock = { now: () => Date.now(), sleep: async (ms) => void delays.push(ms) };
    // the first two answers are 503 (without consuming the secret), then the real server answers
    let calls = 0;
    const flaky: FetchFn = async (input, init) =>
      ++calls <= 2 ? new Response("busy", { status: 503 }) : fetch(input, init);
    const otsUrl = server.createOts(USER, PASSWORD);
    const spec = env.spec(server.repoUrl(repo.name), { auth: { kind: "basic-ots", otsUrl } });
    await env.client({ fetch: flaky, clock, otsRetryDelayMs: 7 }).clone(spec);
    expect(calls).toBe(3);
    expect(delays).toEqual([7, 7]);
    expect(server.otsHits(otsUrl)).toBe(1);

    calls = 0;
    const failing = env.spec(server.repoUrl(repo.name), {
      auth: { kind: "basic-ots", otsUrl: server.createOts(USER, PASSWORD) },
    });
    const err = await catchError(
      env
        .client({
          fetch: async () => {
            calls++;
            return new Response("down", { status: 502 });
          },
          otsAttempts: 2,
          otsRetryDelayMs: 1,
        })
        .clone(failing),
    );
    expect(err).toBeInstanceOf(GitError);
    expect((err as GitError).reason).toBe("auth");
    expect(err.message).toBe("cannot get one-time secret: HTTP 502");
    expect(calls).toBe(2);
  });

  it("an OTS answer that is not user:password is an auth error", async () => {
    const otsUrl = server.createOts("", "x");
    const spec = env.spec(server.repoUrl(repo.name), { auth: { kind: "basic-ots", otsUrl } });
    const err = await catchError(env.client().clone(spec));
    expect((err as GitError).reason).toBe("auth");
  });
});

describe("credentials in bringToTarget", () => {
  it("a restored checkout is moved with a one-time secret that is left nowhere", async () => {
    const auth: GitAuth = { kind: "basic", user: USER, password: PASSWORD };
    const spec = env.spec(server.repoUrl(repo.name), { auth });
    await env.client().clone(spec);
    const otsUrl = server.createOts(USER, PASSWORD);
    const result = await env.client().bringToTarget({
      ...spec,
      auth: { kind: "basic-ots", otsUrl },
      targetMode: "remote-branch",
      cloneTarget: "feature",
    });
    expect(result.commitAfter).toBe(repo.commits.feature?.at(-1));
    expect(server.otsHits(otsUrl)).toBe(1);
    await expectSecretNowhere(PASSWORD, spec.checkoutDir);
  });
});

describe("redact", () => {
  it("masks URL passwords and given secrets, also percent-encoded", () => {
    expect(redact("fatal: https://bob:hunter2@example.com/x.git failed")).toBe(
      "fatal: https://bob:***@example.com/x.git failed",
    );
    expect(redact("a p@ss b p%40ss c", ["p@ss"])).toBe("a *** b *** c");
  });
});
