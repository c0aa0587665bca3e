import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  makeCanary,
  makeVictimTree,
  swapChildAfterParentListed,
  swapListedDirectory,
  treeSnapshot,
} from "../support/swap-attack.js";
import { metadata, useContentArea } from "./fixtures.js";

/**
 * Issue 17, finding 3, through the manager: WipingTeardown(do_wipe) is reachable from inside the
 * workspace, so a workspace process can race the delete it triggers. The fault hook plays that
 * process (swapping a directory for a symlink to a canary outside the workspace).
 */
const area = useContentArea();

describe("content removal with a directory swapped for a symlink during the walk", () => {
  it("wipe deletes the content, not the canary, and leaves an empty content directory", async () => {
    const canary = await makeCanary(join(area.dirs.root, "canary"));
    const attack = swapListedDirectory(canary.dir);
    const manager = await area.open({ removeOptions: { afterList: attack } });
    await manager.init({ id: "wiped", metadata, initializer: { kind: "empty" } });
    await makeVictimTree(manager.contentDir("wiped"));

    await manager.wipe("wiped");

    expect(attack.fired).toBe(true);
    expect(await treeSnapshot(canary.dir)).toEqual(canary.before);
    expect(await readdir(manager.contentDir("wiped"))).toEqual([]);
    expect(await readdir(join(area.dirs.area, ".trash"))).toEqual([]);
  });

  it("dispose deletes the content, not another workspace reached through `..`", async () => {
    const attack = swapChildAfterParentListed("../..");
    const manager = await area.open({ removeOptions: { afterList: attack } });
    await manager.init({ id: "other", metadata, initializer: { kind: "empty" } });
    await makeVictimTree(manager.contentDir("other"));
    const other = await treeSnapshot(manager.contentDir("other"));
    await manager.init({ id: "leaving", metadata, initializer: { kind: "empty" } });
    await makeVictimTree(manager.contentDir("leaving"));

    await manager.dispose("leaving");

    expect(attack.fired).toBe(true);
    expect(await treeSnapshot(manager.contentDir("other"))).toEqual(other);
    await expect(lstat(manager.contentDir("leaving"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(await readdir(join(area.dirs.area, ".trash"))).toEqual([]);
  });

  it("the trash is private to the daemon (0700) from the first open", async () => {
    await area.open();
    expect((await lstat(join(area.dirs.area, ".trash"))).mode & 0o7777).toBe(0o700);
  });

  it("a restart deletes what a crash left in the trash and reports it", async () => {
    const first = await area.open();
    await first.init({ id: "kept", metadata, initializer: { kind: "empty" } });
    await makeVictimTree(join(area.dirs.area, ".trash", "crashed-0123456789ab"));
    const second = await area.open();
    expect(second.recovery.trash).toEqual(["crashed-0123456789ab"]);
    expect(await readdir(join(area.dirs.area, ".trash"))).toEqual([]);
    expect(second.get("kept")).toMatchObject({ state: "available" });
  });
});
