import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { isRoot } from "@ws-daemon/test-support";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(
  new URL("../../../../scripts/cri/ensure-containerd.sh", import.meta.url),
);

/** The images scripts/cri/ensure-containerd.sh builds and imports. */
export const CRI_IMAGES = {
  pause: "ws-daemon.local/pause:1",
  workspace: "ws-daemon.local/workspace-busybox:1",
} as const;

export type PrivateContainerd = { socketPath: string } | { skip: string };

/**
 * The private containerd with CRI that docs/kubernetes.md describes, started (or found
 * running) by the same script. Missing packages are a reason to skip, named; any other
 * failure of the script fails the test.
 */
export async function ensurePrivateContainerd(): Promise<PrivateContainerd> {
  if (!isRoot) return { skip: "needs root (containerd, runc, namespaces)" };
  try {
    const { stdout } = await run("bash", [SCRIPT], { timeout: 120_000 });
    const socketPath = stdout.trim().split("\n").pop() ?? "";
    if (!socketPath.startsWith("/")) throw new Error(`unexpected output: ${stdout}`);
    return { socketPath };
  } catch (e) {
    const err = e as { code?: unknown; stderr?: string };
    if (err.code === 3) return { skip: (err.stderr ?? "").trim() };
    throw e;
  }
}
