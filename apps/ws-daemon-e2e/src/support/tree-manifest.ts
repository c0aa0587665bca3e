import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";

/**
 * The daemon's own bookkeeping in a workspace (its ready marker records the workspace's init
 * source and time), not the user's content.
 */
export const DAEMON_MARKER_DIR = ".ws-daemon";

/**
 * One line per entry below `root` (sorted): path, type, permission bits, owner, and the content
 * hash or link target. Two trees with equal manifests are byte-identical for a workspace's
 * purposes; as a list, a failing comparison shows exactly which entry differs.
 */
export async function treeManifest(
  root: string,
  { skip = [DAEMON_MARKER_DIR] }: { skip?: string[] } = {},
): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      if (skip.includes(rel)) continue;
      const st = await lstat(full);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) {
        lines.push(`${rel} link ${meta} -> ${await readlink(full)}`);
      } else if (st.isDirectory()) {
        lines.push(`${rel}/ dir ${meta}`);
        await walk(full);
      } else if (st.isFile()) {
        const digest = createHash("sha256")
          .update(await readFile(full))
          .digest("hex");
        lines.push(`${rel} file ${meta} ${st.size} ${digest}`);
      } else {
        lines.push(`${rel} other ${meta}`);
      }
    }
  };
  await walk(root);
  return lines;
}

/** The workspace user of Gitpod images: restores give it everything (config content.uid/gid). */
export const WORKSPACE_UID = 33333;

/**
 * `manifest` as a restore leaves that tree: every entry owned by the workspace user, whoever owned
 * it when it was archived (a restore never creates files of root or of ids an archive names).
 */
export const ownedByWorkspaceUser = (manifest: string[]): string[] =>
  manifest.map((line) =>
    line.replace(
      /^(.* (?:link|dir|file|other) [0-7]+) \d+:\d+/,
      `$1 ${WORKSPACE_UID}:${WORKSPACE_UID}`,
    ),
  );
