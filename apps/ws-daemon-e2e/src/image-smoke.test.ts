import { existsSync } from "node:fs";
import path from "node:path";
import {
  createDaemonClients,
  createDaemonTransport,
  HealthCheckResponse_ServingStatus,
} from "@ws-daemon/api";
import { type StartedTestContainer, Wait } from "testcontainers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  execOk,
  fastDaemonHealthCheck,
  labelledContainer,
  startIdlePrivileged,
} from "./support/containers.js";
import { mutualTlsEnvironment, TLS_DIR, trustedClientTls } from "./support/daemon-container.js";
import { E2E_LABEL } from "./support/labels.js";
import { daemonAppDir } from "./support/repo-paths.js";
import { docker } from "./support/run-command.js";

const image = inject("daemonImage");
const placeholderBundle = inject("placeholderBundle");
if (placeholderBundle) {
  console.warn(
    "apps/ws-daemon/dist was missing: the image has a placeholder bundle, daemon start skipped",
  );
}

interface ImageConfig {
  Entrypoint: string[] | null;
  Env: string[] | null;
  Healthcheck?: { Test?: string[] };
}

describe("daemon image", () => {
  it("runs the bundle as a non-shell entrypoint with a gRPC health check", async () => {
    const config = JSON.parse(
      await docker(["image", "inspect", "--format", "{{json .Config}}", image]),
    ) as ImageConfig;
    expect(config.Entrypoint).toEqual(["node", "/opt/ws-daemon/dist/main.js"]);
    expect(config.Healthcheck?.Test).toEqual(["CMD", "node", "/opt/ws-daemon/dist/healthcheck.js"]);
    expect(config.Env).toEqual(
      expect.arrayContaining([
        "WSD_LISTEN__HOST=0.0.0.0",
        "WSD_METRICS__HOST=0.0.0.0",
        // the HEALTHCHECK asks the plaintext, Health-only probe listener on the container's loopback
        "WSD_HEALTH__PROBE__ENABLED=true",
        "WSD_HEALTHCHECK_ADDRESS=http://127.0.0.1:9501",
      ]),
    );
  });

  it.skipIf(placeholderBundle)(
    "starts the bundled daemon, healthy by its HEALTHCHECK and reachable from outside",
    async () => {
      // as documented: certificates mounted, mutual TLS off loopback
      const daemon = await labelledContainer(image)
        .withPrivilegedMode()
        .withBindMounts([{ source: inject("pki").dir, target: TLS_DIR, mode: "ro" }])
        .withEnvironment(mutualTlsEnvironment)
        .withExposedPorts(8080)
        .withHealthCheck(fastDaemonHealthCheck)
        .withWaitStrategy(Wait.forHealthCheck())
        .withStartupTimeout(60_000)
        .start();
      try {
        const health = JSON.parse(
          await docker(["inspect", "--format", "{{json .State.Health}}", daemon.getId()]),
        ) as { Status: string };
        expect(health.Status).toBe("healthy");
        // The gRPC port answers through the published port: it listens beyond loopback.
        const address = `https://${daemon.getHost()}:${daemon.getMappedPort(8080)}`;
        const { health: healthClient } = createDaemonClients(
          createDaemonTransport({ address, tls: trustedClientTls() }),
        );
        expect((await healthClient.check({})).status).toBe(
          HealthCheckResponse_ServingStatus.SERVING,
        );
      } finally {
        await daemon.stop();
      }
    },
  );

  describe("in a privileged container", () => {
    let container: StartedTestContainer;

    beforeAll(async () => {
      container = await startIdlePrivileged(image);
    });

    afterAll(async () => {
      await container?.stop();
    });

    it("carries the suite's cleanup label", async () => {
      const labels = JSON.parse(
        await docker(["inspect", "--format", "{{json .Config.Labels}}", container.getId()]),
      ) as Record<string, string>;
      expect(labels[E2E_LABEL]).toBe("true");
    });

    it("has Node 22 and the run-time tools the daemon calls", async () => {
      expect((await execOk(container, ["node", "--version"])).trim()).toMatch(/^v22\./);
      const tools = ["git", "ip", "nft", "iptables", "nsenter", "unshare", "mount", "zstd"];
      const script = `for tool in ${tools.join(" ")}; do command -v "$tool" || exit 1; done`;
      const found = await execOk(container, ["sh", "-c", script]);
      expect(found.trim().split("\n")).toHaveLength(tools.length);
      await execOk(container, ["test", "-x", "/usr/sbin/mount.nfs"]);
      await execOk(container, ["ps", "-p", "1"]);
    });

    it.skipIf(!existsSync(path.join(daemonAppDir, "native", "build.sh")))(
      "ships the compiled namespace helper",
      async () => {
        const result = await container.exec(["/opt/ws-daemon/native/wsd-nshelper"]);
        // Without a command the helper answers with its JSON usage error and exit code 2.
        expect(result.exitCode).toBe(2);
        expect(JSON.parse(result.stderr.trim())).toMatchObject({ error: "usage" });
      },
    );

    it("is really privileged: CAP_SYS_ADMIN and a writable /sys", async () => {
      const status = await execOk(container, ["cat", "/proc/self/status"]);
      const effective = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1]}`);
      const CAP_SYS_ADMIN = 21n;
      expect((effective >> CAP_SYS_ADMIN) & 1n).toBe(1n);
      const sysMount = await execOk(container, ["sh", "-c", "grep ' /sys sysfs ' /proc/mounts"]);
      expect(sysMount).toMatch(/\srw[,\s]/);
    });

    it("creates a user namespace mapping root", async () => {
      const out = await execOk(container, [
        "unshare",
        "--user",
        "--map-root-user",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map",
      ]);
      const [uid, uidMap] = out.trim().split("\n");
      expect(uid).toBe("0");
      expect(uidMap?.trim().split(/\s+/)).toEqual(["0", "0", "1"]);
    });

    it("mounts proc in a new mount + pid namespace", async () => {
      const out = await execOk(container, [
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "sh",
        "-c",
        "mount -t proc proc /proc && echo $$ && ls -d /proc/[0-9]*",
      ]);
      const [selfPid, ...pidDirs] = out.trim().split("\n");
      expect(selfPid).toBe("1");
      // Only the new namespace's processes are visible: the shell (1) and `ls` itself.
      expect(pidDirs.length).toBeLessThanOrEqual(2);
      expect(pidDirs).toContain("/proc/1");
    });

    it("mounts proc inside a new user namespace too (as the workspace's PID 1 would)", async () => {
      const out = await execOk(container, [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "--pid",
        "--fork",
        "sh",
        "-c",
        "mount -t proc proc /proc && echo $$ && tr '\\0' ' ' </proc/1/cmdline",
      ]);
      const [selfPid, cmdline] = out.trim().split("\n");
      expect(selfPid).toBe("1");
      expect(cmdline).toMatch(/^sh -c /);
    });
  });
});
