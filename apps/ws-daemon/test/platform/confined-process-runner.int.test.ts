/**
 * The confinement on its own (issue 17, finding 1, first wall): as root on the real kernel, a
 * confined command runs as the configured uid/gid with no groups, no capabilities and no new
 * privileges, sees only the system directories, its writable directories and what it may read,
 * cannot execute from the workspace, and cannot reach a sibling workspace or the host's /tmp.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitClient } from "../../src/git/index.js";
import {
  ConfiningProcessRunner,
  createUntrustedContentRunner,
  openRealDirectory,
} from "../../src/platform/index.js";
import { isRoot, notRootReason } from "../support/env.js";

if (!isRoot) console.log(notRootReason("confined process runner tests"));

const UID = 33333;
const GID = 33334;

describe.skipIf(!isRoot)("ConfiningProcessRunner (as root)", () => {
  let dir: string;
  let workspace: string;
  let sibling: string;
  let readable: string;
  const runner = new ConfiningProcessRunner({ uid: UID, gid: GID });
  const sh = (script: string, extra: { readable?: string[] } = {}) =>
    runner.run("sh", ["-c", script], {
      cwd: workspace,
      confinement: { writable: [workspace], ...extra },
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wsd-confine-"));
    workspace = join(dir, "area", "ws-a");
    sibling = join(dir, "area", "ws-b");
    readable = join(dir, "source");
    for (const d of [workspace, sibling, readable]) await mkdir(d, { recursive: true });
    await chmod(dir, 0o755);
    await writeFile(join(sibling, "secret"), "other tenant\n");
    await writeFile(join(readable, "data"), "readable\n");
    await chmod(readable, 0o755);
    const { chown } = await import("node:fs/promises");
    await chown(workspace, UID, GID);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("runs as the configured uid/gid without groups, capabilities or new privileges", async () => {
    const run = sh("echo $$ > pid; exec sleep 5");
    let status = "";
    for (let i = 0; i < 100 && status === ""; i++) {
      const pid = (await readFile(join(workspace, "pid"), "utf8").catch(() => "")).trim();
      if (pid !== "") status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
      else await sleep(50);
    }
    const field = (name: string) =>
      new RegExp(`^${name}:[ \\t]*(.*)$`, "m").exec(status)?.[1]?.trim();
    expect(field("Uid")?.split(/\s+/)).toEqual([
      String(UID),
      String(UID),
      String(UID),
      String(UID),
    ]);
    expect(field("Gid")?.split(/\s+/)).toEqual([
      String(GID),
      String(GID),
      String(GID),
      String(GID),
    ]);
    expect(field("Groups")).toBe("");
    for (const cap of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"])
      expect(field(cap)).toBe("0000000000000000");
    expect(field("NoNewPrivs")).toBe("1");
    process.kill(Number((await readFile(join(workspace, "pid"), "utf8")).trim()), "SIGKILL");
    await run;
    await rm(join(workspace, "pid"));
  });

  it("sees only system directories, a private /tmp, its workspace and what it may read", async () => {
    const r = await sh(
      `ls -A /; echo --; ls -A ${dir}/area; echo --; cat ${readable}/data; echo --; ls /root /proc ${sibling} 2>&1 | wc -l; echo --; touch ${readable}/x 2>/dev/null || echo read-only`,
      { readable: [readable] },
    );
    const [root, area, data, missing, ro] = r.stdout.split("--\n");
    const visible = root?.trim().split("\n") ?? [];
    expect(visible).toEqual(expect.arrayContaining(["bin", "dev", "etc", "lib", "tmp", "usr"]));
    const allowed = ["bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "sbin", "tmp", "usr"];
    expect(visible.filter((name) => !allowed.includes(name))).toEqual([]);
    expect(area?.trim()).toBe("ws-a");
    expect(data?.trim()).toBe("readable");
    expect(Number(missing?.trim())).toBe(3);
    expect(ro?.trim()).toBe("read-only");
  });

  it("may write its workspace (as the workspace user) but not execute from it", async () => {
    const r = await sh(
      'printf "#!/bin/sh\\necho ran\\n" > run.sh && chmod +x run.sh && stat -c %u:%g run.sh && (./run.sh || echo not-executed)',
    );
    expect(r.stdout.trim().split("\n")).toEqual([`${UID}:${GID}`, "not-executed"]);
  });

  it("leaves nothing behind on the host and nothing in the host's /tmp is visible", async () => {
    const marker = await mkdtemp(join(tmpdir(), "wsd-visible-"));
    await chmod(marker, 0o777);
    try {
      const r = await sh(`touch ${marker}/pwned 2>/dev/null || echo denied; ls -A /tmp`);
      // /tmp holds only the path down to the workspace (which lives below the host's /tmp here)
      expect(r.stdout.trim().split("\n")).toEqual(["denied", basename(dir)]);
      expect(await import("node:fs/promises").then((f) => f.readdir(marker))).toEqual([]);
    } finally {
      await rm(marker, { recursive: true, force: true });
    }
  });

  it("refuses a writable directory reached through a symlink component", async () => {
    const link = join(dir, "area", "link-to-b");
    await symlink(sibling, link);
    expect(() => openRealDirectory(join(link, "."))).toThrow(/ELOOP|ENOTDIR/);
  });
});

describe("createUntrustedContentRunner", () => {
  it("not root: runs as the daemon's own user, unconfined", async () => {
    const r = await createUntrustedContentRunner({ uid: UID, gid: GID, isRoot: false });
    expect(r.mode).toBe("own-user");
  });

  it.skipIf(!isRoot)(
    "root with a working confinement: confined, as the configured user",
    async () => {
      const r = await createUntrustedContentRunner({ uid: UID, gid: GID });
      expect(r).toMatchObject({ mode: "confined", identity: { uid: UID, gid: GID } });
    },
  );

  it.skipIf(!isRoot)(
    "root without a working confinement: git is refused with FAILED_PRECONDITION, never run as root",
    async () => {
      const r = await createUntrustedContentRunner({
        uid: UID,
        gid: GID,
        tempRoot: "/nonexistent/sandboxes",
      });
      expect(r.mode).toBe("refused");
      expect(r.reason).toMatch(/ENOENT/);
      const git = new GitClient(r.runner);
      const dir = await mkdtemp(join(tmpdir(), "wsd-refused-"));
      try {
        await expect(git.status(dir)).resolves.toBeUndefined();
        await mkdir(join(dir, ".git"));
        await expect(git.status(dir)).rejects.toMatchObject({ kind: "failed-precondition" });
        await expect(
          git.clone({
            // an address, not a name: the daemon resolves a remote's name before git would run
            // (the network policy), and this machine resolves no public names; nothing is sent
            remoteUri: "https://93.184.215.14/repo.git",
            targetMode: "remote-head",
            cloneTarget: "",
            checkoutDir: join(dir, "clone"),
            customConfig: {},
            auth: { kind: "none" },
            fullClone: false,
          }),
        ).rejects.toMatchObject({ kind: "failed-precondition" });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
