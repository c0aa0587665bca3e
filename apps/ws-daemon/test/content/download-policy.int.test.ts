import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { isRoot, notRootReason } from "../support/env.js";

const run = promisify(execFile);
const require = createRequire(import.meta.url);

if (!isRoot) console.warn(notRootReason("[download policy in a network namespace]"));

/**
 * Issue 17, finding 5, with the production policy unmodified: in a network namespace of its own,
 * the download server has a public address (8.8.8.8 on that namespace's loopback device) and its
 * redirect points at 127.0.0.1 in the same namespace, where an internal server listens. The
 * default policy must allow the first hop and refuse the second. Nothing outside the namespace
 * is touched.
 */
describe.skipIf(!isRoot)("download redirects in a network namespace (attack)", () => {
  it("a public server's redirect to 127.0.0.1 is refused; its own file is downloaded", async () => {
    const script = join(__dirname, "support", "netns-downloads.ts");
    const { stdout } = await run(
      "unshare",
      ["--net", "--", process.execPath, "--import", require.resolve("tsx"), script],
      { env: { ...process.env, NODE_OPTIONS: "" }, timeout: 60_000 },
    );
    const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, unknown>;
    expect(result["redirected"]).toMatchObject({
      ok: false,
      kind: "permission-denied",
      message: expect.stringContaining("127.0.0.1 is a loopback address"),
    });
    expect(result["internalRequests"]).toEqual([]);
    expect(result["direct"]).toEqual({ ok: true, content: "a public file" });
    expect(result["originRequests"]).toEqual(["/innocent", "/file"]);
  });
});
