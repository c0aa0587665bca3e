import { describe, expect, it } from "vitest";
import {
  GitNetwork,
  REFUSING_PROXY_HOST,
  refusedNetworkKey,
  remoteEndpoint,
} from "../../src/git/git-network.js";
import { classifyGitFailure } from "../../src/git/index.js";
import { networkPolicy, type ResolveHost } from "../../src/platform/index.js";

const relaxed = networkPolicy({ allowPrivateNetworks: true });
const production = networkPolicy({ allowPrivateNetworks: false });
const answers =
  (...addresses: string[]): ResolveHost =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));

describe("remoteEndpoint", () => {
  it("finds scheme, host and the port git uses, default ports included", () => {
    expect(remoteEndpoint("https://Git.Example.com/x.git")).toEqual({
      scheme: "https",
      host: "git.example.com",
      port: 443,
      origin: "https://git.example.com",
    });
    expect(remoteEndpoint("http://h:8080/x")).toMatchObject({
      port: 8080,
      origin: "http://h:8080",
    });
    expect(remoteEndpoint("http://h/x")).toMatchObject({ port: 80 });
    expect(remoteEndpoint("ssh://git@h/x")).toEqual({ scheme: "ssh", host: "h", port: 22 });
    expect(remoteEndpoint("git://h/x")).toEqual({ scheme: "git", host: "h", port: 9418 });
    expect(remoteEndpoint("ssh://[::1]:2222/x")).toEqual({
      scheme: "ssh",
      host: "::1",
      port: 2222,
    });
  });

  it("reads git's scp-like syntax as ssh to the host before ':'", () => {
    expect(remoteEndpoint("git@github.com:org/x.git")).toEqual({
      scheme: "ssh",
      host: "github.com",
      port: 22,
    });
    expect(remoteEndpoint("github.com:org/x.git")).toMatchObject({ host: "github.com" });
  });

  it("a scheme counts only at the start; an scp address only from the start", () => {
    expect(remoteEndpoint("host:http://elsewhere/x")).toEqual({
      scheme: "ssh",
      host: "host",
      port: 22,
    });
    expect(remoteEndpoint("./x:y")).toBeUndefined();
  });

  it("has nothing for local remotes", () => {
    expect(remoteEndpoint("file:///srv/x.git")).toBeUndefined();
    expect(remoteEndpoint("/srv/x.git")).toBeUndefined();
    expect(remoteEndpoint("./x")).toBeUndefined();
  });
});

describe("refusedNetworkKey: one key at a time", () => {
  it.each([
    "http.https://h/.proxy",
    "http.https://h/.curloptresolve",
    "http.https://h/.followRedirects",
    "HTTP.https://h/.Proxy",
    "remote.origin.proxy",
    "remote.up.stream.proxy",
  ])("refuses %s", (key) => expect(refusedNetworkKey(key)).toBe(true));

  it.each([
    // the daemon's own command-line value wins over these (same specificity, read later)
    "http.proxy",
    "http.curloptresolve",
    "http.followredirects",
    "http.https://h/.sslverify",
    "http.https://h/.proxyauthmethod",
    "remote.origin.url",
    "remote.proxy",
    "remote.origin.proxyauthmethod",
    "xremote.a.proxy",
    "xhttp.a.proxy",
    "url.https://x/.insteadof",
  ])("leaves %s", (key) => expect(refusedNetworkKey(key)).toBe(false));
});

describe("GitNetwork.admit", () => {
  const net = (resolve: ResolveHost) =>
    new GitNetwork({ policy: relaxed, resolve, environment: {} });

  it("pins a name to the address it checked and exempts exactly that origin from the refusing proxy", async () => {
    expect(
      await net(answers("10.0.0.7")).admit("https://git.internal:8443/x.git", "remote"),
    ).toEqual([
      "http.curloptResolve=git.internal:8443:10.0.0.7",
      "http.https://git.internal:8443/.proxy=",
    ]);
  });

  it("brackets an IPv6 address in the pin; an IP literal needs no pin", async () => {
    expect(await net(answers("fd12::7")).admit("http://git.internal/x", "remote")).toEqual([
      "http.curloptResolve=git.internal:80:[fd12::7]",
      "http.http://git.internal/.proxy=",
    ]);
    expect(await net(answers()).admit("http://10.0.0.7/x", "remote")).toEqual([
      "http.http://10.0.0.7/.proxy=",
    ]);
  });

  it("checks ssh and git:// hosts but gives no settings (git resolves them itself)", async () => {
    expect(await net(answers("10.0.0.7")).admit("git@g:x.git", "remote")).toEqual([]);
    await expect(
      new GitNetwork({ policy: production, resolve: answers("10.0.0.7") }).admit(
        "git://g/x",
        "upstream remote",
      ),
    ).rejects.toMatchObject({
      kind: "permission-denied",
      message: expect.stringMatching(/^upstream remote git:\/\/g: g resolves to 10\.0\.0\.7/),
    });
  });

  it("a name that does not resolve is a git failure, not a policy refusal", async () => {
    const failing: ResolveHost = async () => {
      throw new Error("getaddrinfo ENOTFOUND g");
    };
    await expect(net(failing).admit("https://g/x", "remote")).rejects.toMatchObject({
      kind: "internal",
      reason: "other",
      message: "remote https://g: cannot resolve the host (getaddrinfo ENOTFOUND g)",
      detail: "Could not resolve host: g",
    });
  });

  it("names an IPv6 host in brackets when it refuses it", async () => {
    await expect(
      new GitNetwork({ policy: production }).admit("ssh://[::1]:2222/x", "remote"),
    ).rejects.toMatchObject({
      kind: "permission-denied",
      message: expect.stringMatching(/^remote ssh:\/\/\[::1\]: ::1 is a loopback address/),
    });
  });

  it("local remotes are admitted without a look", async () => {
    const never: ResolveHost = async () => {
      throw new Error("must not resolve");
    };
    expect(await net(never).admit("file:///srv/x.git", "remote")).toEqual([]);
  });
});

describe("the operator's proxy (daemon environment) for checked hosts only", () => {
  const admitted = (environment: Record<string, string>, uri: string) =>
    new GitNetwork({ policy: relaxed, resolve: answers("10.0.0.7"), environment }).admit(
      uri,
      "remote",
    );
  const httpsVia = (proxy: string) => [
    "http.curloptResolve=g:443:10.0.0.7",
    `http.https://g/.proxy=${proxy}`,
  ];
  const httpVia = (proxy: string) => [
    "http.curloptResolve=g:80:10.0.0.7",
    `http.http://g/.proxy=${proxy}`,
  ];

  it("https: https_proxy, else HTTPS_PROXY; never http_proxy", async () => {
    const both = { https_proxy: "http://a:1", HTTPS_PROXY: "http://b:1" };
    expect(await admitted(both, "https://g/x")).toEqual(httpsVia("http://a:1"));
    expect(await admitted({ HTTPS_PROXY: "http://b:1" }, "https://g/x")).toEqual(
      httpsVia("http://b:1"),
    );
    expect(await admitted({ http_proxy: "http://c:1" }, "https://g/x")).toEqual(httpsVia(""));
  });

  it("http: http_proxy only (curl ignores HTTP_PROXY)", async () => {
    expect(await admitted({ http_proxy: "http://c:1" }, "http://g/x")).toEqual(
      httpVia("http://c:1"),
    );
    expect(await admitted({ HTTP_PROXY: "http://d:1" }, "http://g/x")).toEqual(httpVia(""));
    expect(await admitted({ https_proxy: "http://a:1" }, "http://g/x")).toEqual(httpVia(""));
  });

  it("no_proxy (else NO_PROXY) exempts a checked host: exact, parent domain, leading dot, *", async () => {
    const proxyOf = async (host: string, noProxy: Record<string, string>) =>
      (await admitted({ https_proxy: "http://p:1", ...noProxy }, `https://${host}/x`)).at(-1);
    const direct = (host: string) => `http.https://${host}/.proxy=`;
    const proxied = (host: string) => `http.https://${host}/.proxy=http://p:1`;
    expect(await proxyOf("git.corp", { no_proxy: "git.corp" })).toBe(direct("git.corp"));
    expect(await proxyOf("Git.Corp", { no_proxy: " other , GIT.corp" })).toBe(direct("git.corp"));
    expect(await proxyOf("a.git.corp", { no_proxy: ".git.corp" })).toBe(direct("a.git.corp"));
    expect(await proxyOf("a.git.corp", { NO_PROXY: "git.corp" })).toBe(direct("a.git.corp"));
    expect(await proxyOf("x.y", { no_proxy: "*" })).toBe(direct("x.y"));
    expect(await proxyOf("xgit.corp", { no_proxy: "git.corp" })).toBe(proxied("xgit.corp"));
    expect(await proxyOf("git.corp", { no_proxy: "", NO_PROXY: "git.corp" })).toBe(
      proxied("git.corp"),
    );
    expect(await proxyOf("git.corp", { no_proxy: "." })).toBe(proxied("git.corp"));
    // an empty entry names no domain, not "every name ending in a dot"
    expect(await proxyOf("git.corp.", { no_proxy: ".,a,,b" })).toBe(proxied("git.corp."));
    expect(await proxyOf("git.corp", { no_proxy: "other" })).toBe(proxied("git.corp"));
  });

  it("defaults to the daemon's environment", async () => {
    const saved = process.env.https_proxy;
    process.env.https_proxy = "http://from-env:3128";
    try {
      const net = new GitNetwork({ policy: relaxed, resolve: answers("10.0.0.7") });
      expect(await net.admit("https://g/x", "remote")).toEqual(httpsVia("http://from-env:3128"));
    } finally {
      if (saved === undefined) delete process.env.https_proxy;
      else process.env.https_proxy = saved;
    }
  });
});

describe("GitNetwork.baseConfig and env", () => {
  it("the refusing proxy's name is the one git's failures are classified by", () => {
    expect(REFUSING_PROXY_HOST).toBe("refused-by-ws-daemon-network-policy.invalid");
    const stderr = `fatal: unable to access 'http://h/x/': Failed to connect to ${REFUSING_PROXY_HOST} port 0 after 0 ms: Couldn't connect to server`;
    expect(classifyGitFailure(stderr)).toBe("network-policy");
  });

  it("no redirects, no inherited pins, the refusing proxy, no NO_PROXY, also with an operator proxy", () => {
    const net = new GitNetwork({
      policy: relaxed,
      environment: { https_proxy: "http://p:1", no_proxy: "*" },
    });
    expect(net.baseConfig()).toEqual([
      "http.followRedirects=false",
      "http.curloptResolve=",
      "http.proxy=http://refused-by-ws-daemon-network-policy.invalid:0",
      "http.curloptResolve=refused-by-ws-daemon-network-policy.invalid:0:0.0.0.0",
    ]);
    expect(net.env()).toEqual({ NO_PROXY: "", no_proxy: "" });
  });
});
