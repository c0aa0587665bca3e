import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { scriptsDir } from "./support/repo-paths.js";
import { runCommand } from "./support/run-command.js";

const wrapper = path.join(scriptsDir, "runc-drop-sys-resource");

const spec = (caps: string[]) => ({
  ociVersion: "1.0.2",
  process: {
    args: ["true"],
    capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [] },
  },
});

describe("runc-drop-sys-resource (OCI runtime wrapper)", () => {
  let dir: string;
  let fakeRunc: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "runc-wrapper-"));
    // Stands in for /usr/sbin/runc: records the arguments it was given.
    fakeRunc = path.join(dir, "fake-runc");
    await writeFile(fakeRunc, '#!/bin/sh\nprintf "%s\\n" "$@"\n');
    await chmod(fakeRunc, 0o755);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = (args: string[], cwd = dir) =>
    runCommand(wrapper, args, { cwd, env: { ...process.env, REAL_RUNC: fakeRunc } });

  it("drops only CAP_SYS_RESOURCE from the bundle on create, passing every argument on", async () => {
    const config = path.join(dir, "config.json");
    await writeFile(config, JSON.stringify(spec(["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_KILL"])));
    const args = ["--root", "/run/x", "--log", "l.json", "create", "--bundle", dir, "id1"];
    const { stdout } = await run(args);
    expect(stdout.trim().split("\n")).toEqual(args);
    const edited = JSON.parse(await readFile(config, "utf8")) as ReturnType<typeof spec>;
    expect(edited).toEqual(spec(["CAP_CHOWN", "CAP_KILL"]));
  });

  it("handles pretty-printed JSON, --bundle=DIR and a capability alone in its list", async () => {
    const config = path.join(dir, "config.json");
    await writeFile(config, JSON.stringify(spec(["CAP_SYS_RESOURCE"]), null, 2));
    await run(["run", `--bundle=${dir}`, "id2"]);
    expect(JSON.parse(await readFile(config, "utf8"))).toEqual(spec([]));
  });

  it("uses the working directory as the bundle when --bundle is absent", async () => {
    const config = path.join(dir, "config.json");
    await writeFile(config, JSON.stringify(spec(["CAP_SYS_RESOURCE", "CAP_NET_ADMIN"])));
    await run(["create", "id3"], dir);
    expect(JSON.parse(await readFile(config, "utf8"))).toEqual(spec(["CAP_NET_ADMIN"]));
  });

  it("edits the --process file on exec", async () => {
    const processFile = path.join(dir, "process.json");
    const processSpec = spec(["CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]).process;
    await writeFile(processFile, JSON.stringify(processSpec));
    await run(["--root", "/run/x", "exec", "--process", processFile, "--detach", "id4"]);
    expect(JSON.parse(await readFile(processFile, "utf8"))).toEqual(
      spec(["CAP_SYS_ADMIN"]).process,
    );
  });

  it("leaves files alone for other commands", async () => {
    const config = path.join(dir, "config.json");
    const original = JSON.stringify(spec(["CAP_SYS_RESOURCE"]));
    await writeFile(config, original);
    await run(["state", "id5"]);
    await run(["delete", "--force", "id5"]);
    expect(await readFile(config, "utf8")).toBe(original);
  });
});
