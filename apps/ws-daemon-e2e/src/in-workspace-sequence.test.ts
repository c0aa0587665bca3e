import type { StartedTestContainer } from "testcontainers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cleanUp, disposeQuietly } from "./support/cleanup.js";
import { execOk } from "./support/containers.js";
import {
  createWorkingArea,
  type RunningDaemon,
  removeWorkingArea,
  startDaemon,
} from "./support/daemon-container.js";
import { iwsCli, iwsCliOk, startWorkspaceContainer } from "./support/workspace-container.js";
import { emptyInitializer, uniqueWorkspaceId } from "./support/workspace-ids.js";

const image = inject("daemonImage");
const MEMORY_LIMIT = 256 * 1024 * 1024;
/** The inner namespace gets the second address of the daemon's default veth CIDR 10.0.5.0/30. */
const CONTAINER_SIDE_IP = "10.0.5.1";
const INNER_SIDE_IP = "10.0.5.2";

/**
 * What a workspace's init process does through the in-workspace API, driven from inside an
 * unprivileged workspace container with the CLI shipped in the image: it starts a child in new
 * user, mount, pid and network namespaces (as a nested container runtime would) and asks the
 * daemon for the privileged parts.
 */
describe.skipIf(inject("placeholderBundle"))(
  "in-workspace sequence from inside a container",
  () => {
    const id = uniqueWorkspaceId("iws-seq");
    let area: string;
    let daemon: RunningDaemon;
    let workspace: StartedTestContainer;
    /** The inner process's pid as the workspace container sees it. */
    let innerPid: number;

    /** Runs a shell command inside the inner process's namespaces (as its root user). */
    const inInner = (script: string, namespaces = ["--user", "--mount", "--pid", "--net"]) =>
      execOk(workspace, ["nsenter", "-t", String(innerPid), ...namespaces, "sh", "-c", script]);

    beforeAll(async () => {
      area = await createWorkingArea();
      daemon = await startDaemon({ image, workingArea: area });
      await daemon.clients().content.initWorkspace({
        id,
        metadata: { owner: "e2e", metaId: "iws-seq" },
        initializer: emptyInitializer,
      });
      workspace = await startWorkspaceContainer({
        image,
        workspaceId: id,
        socketDir: daemon.socketDir(id),
        memoryBytes: MEMORY_LIMIT,
      });
    });

    afterAll(async () => {
      await cleanUp(
        () => workspace?.stop(),
        () => disposeQuietly(daemon, [id]),
        () => daemon?.container.stop(),
        () => removeWorkingArea(area),
      );
    });

    it("PrepareForUserNS names the filesystem shift method (or why none is available)", async () => {
      const result = await iwsCli(workspace, ["prepare-for-userns"]);
      if (result.exitCode === 0) {
        expect(["SHIFTFS", "IDMAPPED"]).toContain(JSON.parse(result.stdout).fsShift);
        return;
      }
      // overlayfs container roots on some kernels refuse ID-mapped mounts, and shiftfs is gone
      // from current kernels: the daemon then says so instead of pretending.
      console.warn(
        `PrepareForUserNS found no shift method on this machine: ${result.stderr.trim()}`,
      );
      expect(result.exitCode).toBe(73);
      expect(result.stderr).toMatch(/^FAILED_PRECONDITION: no FS shift method available/);
    });

    it("WriteIDMapping maps the root of a new user namespace to the allowed host range", async () => {
      const started = await execOk(workspace, [
        "sh",
        "-c",
        "unshare --user --mount --pid --net --fork sleep infinity >/dev/null 2>&1 & echo $!",
      ]);
      const unsharePid = started.trim();
      // unshare forks the sleeper into the new pid namespace: it is unshare's only child.
      let child = "";
      for (let i = 0; i < 50 && !child; i++) {
        const found = await workspace.exec(["pgrep", "-P", unsharePid]);
        child = found.stdout.trim();
        if (!child) await new Promise((r) => setTimeout(r, 100));
      }
      innerPid = Number(child);
      expect(innerPid).toBeGreaterThan(1);

      const map = "0:100000:65536";
      expect(await iwsCliOk(workspace, ["write-id-mapping", "--pid", child, "--map", map])).toEqual(
        {
          message: "",
          errorCode: 0,
        },
      );
      await iwsCliOk(workspace, ["write-id-mapping", "--pid", child, "--gid", "--map", map]);
      const uidMap = await execOk(workspace, ["cat", `/proc/${child}/uid_map`]);
      const gidMap = await execOk(workspace, ["cat", `/proc/${child}/gid_map`]);
      expect(uidMap.trim().split(/\s+/)).toEqual(["0", "100000", "65536"]);
      expect(gidMap.trim().split(/\s+/)).toEqual(["0", "100000", "65536"]);
      // Inside, the process is root of its own namespace.
      expect((await inInner("id -u; id -g")).trim().split("\n")).toEqual(["0", "0"]);
    });

    it("MountProc gives the inner pid namespace its own proc with the masked paths", async () => {
      await iwsCliOk(workspace, ["mount-proc", "--pid", String(innerPid), "--target", "/proc"]);
      // The new proc belongs to the inner pid namespace: its pid 1 is the sleeper.
      expect((await inInner("cat /proc/1/comm")).trim()).toBe("sleep");
      // Masked: /proc/kcore reads empty; read-only: /proc/sys.
      expect((await inInner("cat /proc/kcore | wc -c")).trim()).toBe("0");
      const sysMount = await inInner("grep ' /proc/sys ' /proc/self/mounts");
      expect(sysMount).toMatch(/\sro[,\s]/);
      const write = await workspace.exec([
        "nsenter",
        "-t",
        String(innerPid),
        "--user",
        "--mount",
        "--pid",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/sysrq",
      ]);
      expect(write.exitCode).not.toBe(0);
    });

    it("SetupPairVeths connects the inner network namespace with the container", async () => {
      await iwsCliOk(workspace, ["setup-pair-veths", "--pid", String(innerPid)]);
      expect(await inInner("ip -4 -o addr show")).toContain(`${INNER_SIDE_IP}/30`);

      // A TCP round trip from the inner namespace to a server in the container's namespace.
      const server =
        'require("node:net").createServer((s) => s.end("pong " + s.remoteAddress))' +
        `.listen(7777, "${CONTAINER_SIDE_IP}")`;
      await execOk(workspace, ["sh", "-c", `node -e '${server}' >/tmp/server.log 2>&1 &`]);
      const client =
        `const s = require("node:net").connect(7777, "${CONTAINER_SIDE_IP}");` +
        ' s.on("data", (d) => process.stdout.write(d)); s.on("error", (e) => { console.error(e.message); process.exit(1); });';
      let answer = "";
      for (let i = 0; i < 30 && !answer.startsWith("pong"); i++) {
        const result = await workspace.exec([
          "nsenter",
          "-t",
          String(innerPid),
          "--user",
          "--net",
          "node",
          "-e",
          client,
        ]);
        answer = result.stdout.trim();
        if (!answer.startsWith("pong")) await new Promise((r) => setTimeout(r, 200));
      }
      expect(answer).toBe(`pong ${INNER_SIDE_IP}`);
    });

    it("MountSysfs shows the inner network namespace's interfaces; UmountSysfs removes it", async () => {
      const names = (text: string) => text.trim().split(/\s+/).sort();
      const innerLinks = names(await inInner("ip -o link show | cut -d: -f2 | cut -d@ -f1"));
      const outerSysfs = names(await execOk(workspace, ["ls", "/sys/class/net"]));
      expect(innerLinks).not.toEqual(outerSysfs);

      await iwsCliOk(workspace, ["mount-sysfs", "--pid", String(innerPid), "--target", "/sys"]);
      expect(names(await inInner("ls /sys/class/net"))).toEqual(innerLinks);

      await iwsCliOk(workspace, ["umount-sysfs", "--pid", String(innerPid), "--target", "/sys"]);
      // Back to the sysfs inherited from the container.
      expect(names(await inInner("ls /sys/class/net"))).toEqual(outerSysfs);
    });

    it("EvacuateCGroup succeeds once", async () => {
      expect(await iwsCliOk(workspace, ["evacuate-cgroup"])).toEqual({});
    });

    it("WorkspaceInfo reports the container's memory limit through both services", async () => {
      for (const via of ["workspace-info", "in-workspace"]) {
        const info = (await iwsCliOk(workspace, ["workspace-info", "--via", via])) as {
          resources: { memory: { limit: string; used: string }; cpu: { limit: string } };
        };
        expect(Number(info.resources.memory.limit)).toBe(MEMORY_LIMIT);
        expect(Number(info.resources.memory.used)).toBeGreaterThan(0);
        expect(Number(info.resources.memory.used)).toBeLessThanOrEqual(MEMORY_LIMIT);
      }
    });

    it("UmountProc restores the view of the container's proc", async () => {
      await iwsCliOk(workspace, ["umount-proc", "--pid", String(innerPid), "--target", "/proc"]);
      // Back to the inherited proc of the container's pid namespace, where pid 1 is the idler.
      expect((await inInner("cat /proc/1/comm")).trim()).toBe("node");
    });

    it("Teardown undoes what is left (the veth pair) and succeeds", async () => {
      expect(await iwsCliOk(workspace, ["teardown"])).toEqual({ success: true });
      expect(await execOk(workspace, ["ip", "-4", "-o", "addr", "show"])).not.toContain(
        CONTAINER_SIDE_IP,
      );
      const again = await iwsCli(workspace, ["teardown"]);
      expect(again.exitCode).toBe(72);
      expect(again.stderr).toMatch(/^RESOURCE_EXHAUSTED: /);
    });
  },
);
