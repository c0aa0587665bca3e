import { describe, expect, it } from "vitest";
import { rootMountIsShared } from "../../src/linux/user-ns-prep.js";
import { NodeProcessRunner } from "../../src/platform/index.js";
import { errorKind } from "./support/error-kind.js";
import {
  containerForSuite,
  isRoot,
  sh,
  startContainer,
  tempDirForSuite,
} from "./support/fake-container.js";
import { InterceptingRunner, type RecycledPid, recyclePid } from "./support/recycled-pid.js";
import { workspaceFor } from "./support/workspace.js";

const inNet = (pid: number, args: string[]) =>
  sh("nsenter", [`--net=/proc/${pid}/ns/net`, "--", ...args]);

const linkNames = async (pid: number): Promise<string[]> =>
  (JSON.parse(await inNet(pid, ["ip", "-j", "link", "show"])) as { ifname: string }[]).map(
    (l) => l.ifname,
  );

/**
 * The in-workspace calls act on the process they checked. Each test lets the call check its pid,
 * then recycles that number for real (a new process under the same host pid, made through the
 * host's ns_last_pid) right before the step that used to go by number, and asserts that the new
 * process is left exactly as it was.
 */
describe.skipIf(!isRoot)("in-workspace calls pin the pids they act on", () => {
  const c = containerForSuite(
    ["unshare --net sleep 3661", "unshare --net sleep 3662", "unshare --net sleep 3663"],
    ["sleep 3661", "sleep 3662", "sleep 3663"],
  );
  const dir = tempDirForSuite("wsd-pinned-calls-");
  let recycled: RecycledPid | undefined;
  const recycle = async (pid: number, command: string) => {
    recycled = await recyclePid(pid, command);
  };
  const cleanup = async () => {
    await recycled?.stop();
    recycled = undefined;
  };

  it("SetupPairVeths: a target recycled before `ip link add` gets no interface, and the container none either", async () => {
    const target = await c().find("sleep 3661");
    const runner = new InterceptingRunner(
      new NodeProcessRunner(),
      (_cmd, args) => args.includes("add") && args.includes("veth"),
      () => recycle(target.hostPid, "unshare --net sleep 3694"),
    );
    // the container's own interface, whose MTU the pair copies
    await inNet(c().rootPid, [
      "ip",
      "link",
      "add",
      "eth0",
      "mtu",
      "1400",
      "type",
      "veth",
      "peer",
      "name",
      "eth0-peer",
    ]);
    const { ws } = workspaceFor(c().rootPid, {}, runner);
    try {
      const setup = ws.setupPairVeths(target.nsPids[1] as number);
      expect(await errorKind(setup)).toBe("failed-precondition");
      expect(recycled?.pid).toBe(target.hostPid);
      expect(await linkNames(target.hostPid)).toEqual(["lo"]);
      expect((await linkNames(c().rootPid)).sort()).toEqual(["eth0", "eth0-peer", "lo"]);
    } finally {
      await cleanup();
    }
  });

  it("MountProc: a target recycled before IPv6 is turned off keeps its IPv6", async () => {
    const target = await c().find("sleep 3662");
    const runner = new InterceptingRunner(
      new NodeProcessRunner(),
      (_cmd, args) => args[0] === "sysctl-net",
      () => recycle(target.hostPid, "unshare --net sleep 3695"),
    );
    const { ws } = workspaceFor(c().rootPid, {}, runner);
    try {
      const mount = ws.mountProc(target.nsPids[1] as number, dir());
      expect(await errorKind(mount)).toBe("failed-precondition");
      expect(recycled?.pid).toBe(target.hostPid);
      const ipv6Off = await inNet(target.hostPid, [
        "cat",
        "/proc/sys/net/ipv6/conf/all/disable_ipv6",
      ]);
      expect(ipv6Off.trim()).toBe("0");
    } finally {
      await cleanup();
      await sh("nsenter", ["-t", String(c().rootPid), "-m", "--", "umount", "-l", dir()]).catch(
        () => undefined,
      );
    }
  });

  it("MountProc still turns IPv6 off in the process it checked", async () => {
    const target = await c().find("sleep 3663");
    const { ws } = workspaceFor(c().rootPid);
    await ws.mountProc(target.nsPids[1] as number, dir());
    try {
      const ipv6Off = await inNet(target.hostPid, [
        "cat",
        "/proc/sys/net/ipv6/conf/all/disable_ipv6",
      ]);
      expect(ipv6Off.trim()).toBe("1");
    } finally {
      await ws.umountProc(target.nsPids[1] as number, dir());
    }
  });

  it("PrepareForUserNS: a container root recycled before the helper runs keeps its mount propagation", async () => {
    const own = await startContainer();
    const runner = new InterceptingRunner(
      new NodeProcessRunner(),
      (_cmd, args) => args[0] === "probe-idmap",
      // unshare(1) makes the new process's mounts private: a make-shared would show
      () => recycle(own.rootPid, "unshare --mount sleep 3696"),
    );
    const { ws } = workspaceFor(own.rootPid, {}, runner);
    try {
      expect(await errorKind(ws.prepareForUserNS())).toBe("failed-precondition");
      expect(recycled?.pid).toBe(own.rootPid);
      expect(await rootMountIsShared(own.rootPid)).toBe(false);
      // teardown does not undo anything in the new process either
      const report = await ws.teardown();
      expect(report.success).toBe(true);
      expect(await rootMountIsShared(own.rootPid)).toBe(false);
    } finally {
      // once recycled, the root's number is not the container's any more: never kill it again
      const rootRecycled = recycled !== undefined;
      await cleanup();
      if (!rootRecycled) await own.stop();
    }
  });
});
