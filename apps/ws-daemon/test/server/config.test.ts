import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/load-config.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "wsd-config-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("configuration", () => {
  it("has defaults that need nothing else: local area, local storage, loopback", async () => {
    const config = await loadConfig();
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 8080, insecure: false });
    expect(config.auth).toEqual({ allowedClients: {} });
    expect(config.workingArea).toBe("./.ws-daemon-data/workspaces");
    expect(config.storage).toEqual({ kind: "local", root: "./.ws-daemon-data/storage" });
    expect(config.runtime.kind).toBe("process");
    expect(config.tls).toBeUndefined();
    expect(config.janitor).toEqual({ intervalMs: 6 * 3600_000, graceMs: 24 * 3600_000 });
  });

  it("layers file < environment < flags", async () => {
    const file = path.join(dir, "c.yaml");
    await writeFile(
      file,
      "listen:\n  port: 9001\n  host: 0.0.0.0\n  insecure: true\nlimits:\n  maxConcurrentInits: 7\nlogLevel: warn\n",
    );
    const config = await loadConfig({
      argv: ["--config", file, "--listen.port=9003", "--shutdownGraceMs", "5"],
      env: { WSD_LISTEN__PORT: "9002", WSD_LOG_LEVEL: "error", WSD_STORAGE__KIND: "local" },
    });
    expect(config.listen).toEqual({ host: "0.0.0.0", port: 9003, insecure: true });
    expect(config.limits.maxConcurrentInits).toBe(7);
    expect(config.log.level).toBe("error");
    expect(config.shutdownGraceMs).toBe(5);
  });

  it("a section without kind is of the default kind; keys of another kind are refused", async () => {
    const local = await loadConfig({ argv: ["--storage.root=/srv/backups"] });
    expect(local.storage).toEqual({ kind: "local", root: "/srv/backups" });
    const processRuntime = await loadConfig({ env: { WSD_RUNTIME__WORKSPACES: '{"ws-1": 42}' } });
    expect(processRuntime.runtime).toEqual({ kind: "process", workspaces: { "ws-1": 42 } });
    await expect(loadConfig({ argv: ["--storage.bucket=b"] })).rejects.toThrow(
      /storage: Unrecognized key: "bucket"/,
    );
    const s3 = await loadConfig({ argv: ["--storage.kind=s3", "--storage.bucket=bkt"] });
    expect(s3.storage).toMatchObject({ kind: "s3", bucket: "bkt", region: "us-east-1" });
  });

  it("a flag's value may start with a dash", async () => {
    // (a host other than loopback needs mutual TLS or, as here, an explicit insecure)
    const config = await loadConfig({
      argv: ["--listen.host", "-bad-host-", "--metrics.enabled", "--listen.insecure"],
    });
    expect(config.listen.host).toBe("-bad-host-");
    expect(config.metrics.enabled).toBe(true);
    await expect(loadConfig({ argv: ["--listen.port", "-1"] })).rejects.toThrow(/listen\.port/);
  });

  it("reads the old logLevel key as log.level; log.format defaults to auto", async () => {
    expect((await loadConfig({ argv: ["--logLevel=warn"] })).log).toEqual({
      level: "warn",
      format: "auto",
    });
    expect(
      (await loadConfig({ argv: ["--logLevel=warn", "--log.level=debug", "--log.format=json"] }))
        .log,
    ).toEqual({ level: "debug", format: "json" });
  });

  it("keeps workspace ids given through the environment as written", async () => {
    const config = await loadConfig({
      env: {
        WSD_RUNTIME__KIND: "process",
        WSD_RUNTIME__WORKSPACES__MyWorkspace_A1: "4242",
        WSD_RUNTIME__WORKSPACES__lower: "7",
      },
    });
    expect(config.runtime).toEqual({
      kind: "process",
      workspaces: { MyWorkspace_A1: 4242, lower: 7 },
    });
  });

  it("reads JSON files and WSD_CONFIG", async () => {
    const file = path.join(dir, "c.json");
    await writeFile(
      file,
      JSON.stringify({
        storage: {
          kind: "s3",
          bucket: "backups",
          endpoint: "http://127.0.0.1:9",
          forcePathStyle: true,
        },
      }),
    );
    const config = await loadConfig({ env: { WSD_CONFIG: file } });
    expect(config.storage).toMatchObject({
      kind: "s3",
      bucket: "backups",
      forcePathStyle: true,
      region: "us-east-1",
    });
  });

  it.each([
    [["--listen.port=70000"], "listen.port"],
    [["--listen.port=abc"], "listen.port"],
    [["--limits.maxConcurrentInits=0"], "limits.maxConcurrentInits"],
    [["--logLevel=loud"], "log.level"],
    [["--storage.kind=s3"], "storage.bucket"],
    [["--idMapping.hostRangeStart=200000"], "idMapping.hostRangeEnd"],
    [["--listen.prot=1"], "listen"],
    [["--bogus=1"], "(top level)"],
  ])("rejects %j naming the bad key %s", async (argv, key) => {
    const error = await loadConfig({ argv }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`${key}:`);
  });

  it("reports unreadable and unparsable files clearly", async () => {
    await expect(
      loadConfig({ argv: ["--config", path.join(dir, "missing.yaml")] }),
    ).rejects.toThrow(/cannot read config file .*missing\.yaml/);
    const bad = path.join(dir, "bad.yaml");
    await writeFile(bad, "listen: [unclosed\n");
    await expect(loadConfig({ argv: ["--config", bad] })).rejects.toThrow(
      /cannot parse config file/,
    );
  });
});

describe("authenticated by default (issue 10)", () => {
  const tls = (clientCa: boolean) => [
    "--tls.certFile=/etc/wsd/tls.crt",
    "--tls.keyFile=/etc/wsd/tls.key",
    ...(clientCa ? ["--tls.clientCaFile=/etc/wsd/ca.crt"] : []),
  ];

  it.each(["0.0.0.0", "::", "10.1.2.3", "fd00::1", "node-1.example", "128.0.0.1"])(
    "refuses to listen on %s without TLS, naming listen.host and the ways out",
    async (host) => {
      const error = await loadConfig({ argv: [`--listen.host=${host}`] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain(
        `listen.host: ${JSON.stringify(host)} is not a loopback address: the node API there requires mutual TLS`,
      );
      expect((error as Error).message).toContain("listen.insecure: true");
    },
  );

  it("refuses TLS without a client CA off loopback: it authenticates nobody", async () => {
    await expect(loadConfig({ argv: ["--listen.host=0.0.0.0", ...tls(false)] })).rejects.toThrow(
      /tls\.clientCaFile: required when listening on "0\.0\.0\.0" \(not loopback\): TLS without a client CA authenticates no client/,
    );
  });

  it("accepts mutual TLS off loopback", async () => {
    const config = await loadConfig({ argv: ["--listen.host=0.0.0.0", ...tls(true)] });
    expect(config.tls?.clientCaFile).toBe("/etc/wsd/ca.crt");
    expect(config.listen.insecure).toBe(false);
  });

  it("accepts an explicit listen.insecure off loopback, with or without server TLS", async () => {
    for (const argv of [[], tls(false)]) {
      const config = await loadConfig({
        argv: ["--listen.host=0.0.0.0", ...argv],
        env: { WSD_LISTEN__INSECURE: "true" },
      });
      expect(config.listen).toMatchObject({ host: "0.0.0.0", insecure: true });
    }
  });

  it.each(["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost", "LOCALHOST"])(
    "needs nothing on loopback (%s)",
    async (host) => {
      expect((await loadConfig({ argv: [`--listen.host=${host}`] })).listen.host).toBe(host);
    },
  );

  it("reads allow-lists of client identities per service, and refuses them without a client CA", async () => {
    const config = await loadConfig({
      argv: tls(true),
      env: {
        WSD_AUTH__ALLOWED_CLIENTS__CONTENT: '["node-manager", "spiffe://cluster/ns/wsman"]',
        WSD_AUTH__ALLOWED_CLIENTS__HEALTH: '["prober"]',
      },
    });
    expect(config.auth.allowedClients).toEqual({
      content: ["node-manager", "spiffe://cluster/ns/wsman"],
      health: ["prober"],
    });
    await expect(
      loadConfig({ argv: tls(false), env: { WSD_AUTH__ALLOWED_CLIENTS__CONTENT: '["a"]' } }),
    ).rejects.toThrow(
      /auth\.allowedClients\.content: an allow-list of client identities needs mutual TLS/,
    );
    await expect(
      loadConfig({ argv: tls(true), env: { WSD_AUTH__ALLOWED_CLIENTS__REFLECTION: "[]" } }),
    ).rejects.toThrow(/auth\.allowedClients\.reflection:/);
  });
});

describe("environment variables that are not configuration", () => {
  it("ignores WSD_NSHELPER, WSD_HEALTHCHECK_ADDRESS and WSD_TEST_* but rejects unknown WSD_ keys", async () => {
    const config = await loadConfig({
      env: { WSD_NSHELPER: "/x", WSD_HEALTHCHECK_ADDRESS: "http://x", WSD_TEST_NFS_SOURCE: "h:/e" },
    });
    expect(config.listen.port).toBe(8080);
    await expect(loadConfig({ env: { WSD_LISTEN__PROT: "1" } })).rejects.toThrow(/listen: /);
  });
});

describe("string keys whose values look like numbers or booleans", () => {
  it("keeps them as text", async () => {
    const config = await loadConfig({
      env: {
        WSD_STORAGE__KIND: "s3",
        WSD_STORAGE__BUCKET: "12345",
        WSD_STORAGE__ACCESS_KEY_ID: "true",
      },
      argv: ["--logLevel=info"],
    });
    expect(config.storage).toMatchObject({ kind: "s3", bucket: "12345", accessKeyId: "true" });
  });
});
