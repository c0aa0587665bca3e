import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinuxOpError } from "../../src/linux/errors.js";
import { containerForSuite, isRoot, sh } from "./support/fake-container.js";
import { workspaceFor } from "./support/workspace.js";

const hasNft = await sh("sh", ["-c", "command -v nft"]).then(
  () => true,
  () => false,
);
if (isRoot && !hasNft)
  console.warn("[veth tests] skipping: nft (Debian package nftables) is not installed");

const ipIn = (pid: number, args: string[]) =>
  sh("nsenter", [`--net=/proc/${pid}/ns/net`, "--", "ip", ...args]);

/** A one-shot TCP client run inside a network namespace; prints what the server saw as our address. */
const clientIn = (pid: number, host: string, port: number) =>
  sh("nsenter", [
    `--net=/proc/${pid}/ns/net`,
    "--",
    process.execPath,
    "-e",
    `const s=require("net").connect(${port},"${host}");let d="";s.on("data",c=>d+=c);s.on("end",()=>{process.stdout.write(d)});s.setTimeout(5000,()=>{process.exit(2)})`,
  ]);

/** A TCP server inside a network namespace that answers each connection with the peer's address. */
function serverIn(pid: number, host: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    "nsenter",
    [
      `--net=/proc/${pid}/ns/net`,
      "--",
      process.execPath,
      "-e",
      `require("net").createServer(s=>s.end(s.remoteAddress)).listen(${port},"${host}",()=>console.log("ready"))`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    child.stdout?.once("data", () => resolve(child));
    child.once("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
}

describe.skipIf(!isRoot || !hasNft)("SetupPairVeths with real namespaces and traffic", () => {
  const outside = containerForSuite(); // stands for what the container can reach (its "pod network")
  const c = containerForSuite(
    ["unshare --net sleep 3651", "unshare --net sleep 3652"],
    ["sleep 3651", "sleep 3652"],
  );
  const servers: ChildProcess[] = [];
  beforeAll(async () => {
    // the container's own interface eth0 (MTU 1400) towards "outside", made without touching the host namespace
    await ipIn(outside().rootPid, [
      "link",
      "add",
      "out0",
      "mtu",
      "1400",
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "mtu",
      "1400",
      "netns",
      String(c().rootPid),
    ]);
    await ipIn(outside().rootPid, ["addr", "add", "10.0.6.1/30", "dev", "out0"]);
    await ipIn(outside().rootPid, ["link", "set", "out0", "up"]);
    await ipIn(c().rootPid, ["addr", "add", "10.0.6.2/30", "dev", "eth0"]);
    await ipIn(c().rootPid, ["link", "set", "eth0", "up"]);
  });
  // runs before the containers stop; the namespaces, their links and nft tables die with them
  afterAll(() => {
    for (const s of servers) s.kill("SIGKILL");
  });

  it("connects the inner namespace, copies the MTU and NATs it out of the container", async () => {
    const { ws } = workspaceFor(c().rootPid);
    const inner = await c().find("sleep 3651");
    const addr = await ws.setupPairVeths(inner.nsPids[1] as number);
    expect(addr).toMatchObject({ hostSideIp: "10.0.5.1", peerSideIp: "10.0.5.2" });
    const link = JSON.parse(await ipIn(inner.hostPid, ["-j", "link", "show", "dev", "eth0"]))[0];
    expect(link.mtu).toBe(1400);
    expect(await ipIn(inner.hostPid, ["route", "show", "default"])).toMatch(
      /default via 10\.0\.5\.1 dev eth0/,
    );
    // inner -> outside: the outside sees the container's address, so NAT + forwarding work
    servers.push(await serverIn(outside().rootPid, "10.0.6.1", 7701));
    expect(await clientIn(inner.hostPid, "10.0.6.1", 7701)).toMatch(/10\.0\.6\.2$/);
    // container -> inner directly over the pair
    servers.push(await serverIn(inner.hostPid, "10.0.5.2", 7702));
    expect(await clientIn(c().rootPid, "10.0.5.2", 7702)).toMatch(/10\.0\.5\.1$/);
    // outside -> container's eth0 is forwarded to the inner namespace (upstream's inbound DNAT)
    servers.push(await serverIn(inner.hostPid, "0.0.0.0", 7703));
    expect(await clientIn(outside().rootPid, "10.0.6.2", 7703)).toMatch(/10\.0\.6\.1$/);
  });

  it("a second call for the same target is idempotent", async () => {
    const { ws } = workspaceFor(c().rootPid);
    const inner = await c().find("sleep 3651");
    await ws.setupPairVeths(inner.nsPids[1] as number);
    const addrs = await ipIn(inner.hostPid, ["-4", "-o", "addr", "show", "dev", "eth0"]);
    expect(addrs.trim().split("\n")).toHaveLength(1);
    expect(await clientIn(inner.hostPid, "10.0.6.1", 7701)).toMatch(/10\.0\.6\.2$/);
  });

  it("a call for a different target while the pair exists is already-exists", async () => {
    const { ws } = workspaceFor(c().rootPid);
    const second = await c().find("sleep 3652");
    const err = await ws.setupPairVeths(second.nsPids[1] as number).catch((e) => e);
    expect(err).toBeInstanceOf(LinuxOpError);
    expect(err.kind).toBe("already-exists");
  });

  it("refuses the container's own namespace and foreign pids", async () => {
    const { ws } = workspaceFor(c().rootPid);
    expect((await ws.setupPairVeths(1).catch((e) => e)).kind).toBe("failed-precondition");
    expect((await ws.setupPairVeths(3999).catch((e) => e)).kind).toBe("permission-denied");
  });

  it("teardown removes the pair and the NAT table", async () => {
    const { ws } = workspaceFor(c().rootPid);
    const inner = await c().find("sleep 3651");
    await ws.setupPairVeths(inner.nsPids[1] as number);
    const report = await ws.teardown();
    expect(report).toMatchObject({ success: true, undone: ["veth pair"] });
    await expect(ipIn(c().rootPid, ["link", "show", "dev", "veth0"])).rejects.toThrow();
    await expect(
      sh("nsenter", [
        `--net=/proc/${c().rootPid}/ns/net`,
        "--",
        "nft",
        "list",
        "table",
        "ip",
        "ws_daemon_nat",
      ]),
    ).rejects.toThrow();
  });
});
