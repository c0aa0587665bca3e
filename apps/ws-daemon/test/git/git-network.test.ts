import { describe, expect, it } from "vitest";
import {
  GitNetwork,
  REFUSING_PROXY_HOST,
  refusedNetworkKey,
  remoteEndpoint,
} from "../../src/git/git-network.js";
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
    "url.https://x/.insteadof",
  ])("leaves %s", (key) => expect(refusedNetworkKey(key)).toBe(false));
});

describe("GitNetwork.admit", () => {
  const net = (resolve: ResolveHost, operatorProxy = false) =>
    new GitNetwork({ policy: relaxed, resolve, operatorProxy });

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

  it("with an operator proxy: pins but no exemption (the proxy connects)", async () => {
    expect(await net(answers("10.0.0.7"), true).admit("https://g/x", "remote")).toEqual([
      "http.curloptResolve=g:443:10.0.0.7",
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
      detail: "Could not resolve host: g",
    });
  });

  it("local remotes are admitted without a look", async () => {
    const never: ResolveHost = async () => {
      throw new Error("must not resolve");
    };
    expect(await net(never).admit("file:///srv/x.git", "remote")).toEqual([]);
  });
});

describe("GitNetwork.baseConfig and env", () => {
  it("without an operator proxy: no redirects, no inherited pins, the refusing proxy, no NO_PROXY", () => {
    const net = new GitNetwork({ policy: relaxed, operatorProxy: false });
    expect(net.baseConfig()).toEqual([
      "http.followRedirects=false",
      "http.curloptResolve=",
      `http.proxy=http://${REFUSING_PROXY_HOST}:0`,
      `http.curloptResolve=${REFUSING_PROXY_HOST}:0:0.0.0.0`,
    ]);
    expect(net.env()).toEqual({ NO_PROXY: "", no_proxy: "" });
  });

  it("with an operator proxy: git uses it; redirects and inherited pins stay off", () => {
    const net = new GitNetwork({ policy: relaxed, operatorProxy: true });
    expect(net.baseConfig()).toEqual(["http.followRedirects=false", "http.curloptResolve="]);
    expect(net.env()).toEqual({});
  });
});
