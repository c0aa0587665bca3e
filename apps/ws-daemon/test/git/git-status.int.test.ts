import { chown, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isRoot, notRootReason } from "../support/env.js";
import { gitTestFile } from "./git-test-env.js";

const fixture = gitTestFile();

if (!isRoot) console.warn(notRootReason("the foreign-owner git status test (chown)"));

describe.skipIf(!isRoot)("GitClient.status on a checkout of another user", () => {
  it("works on a checkout owned by another user (workspace uid)", async () => {
    const { env, repo } = fixture;
    const dir = env.cloneWithGit(repo.bare);
    await writeFile(join(dir, "new.txt"), "n\n");
    // git refuses ("dubious ownership") when the work tree or .git belongs to another user
    await chown(dir, 33333, 33333);
    await chown(join(dir, ".git"), 33333, 33333);
    const status = await env.client().status(dir);
    expect(status?.branch).toBe("main");
    expect(status?.untrackedFiles).toEqual(["new.txt"]);
  });
});
