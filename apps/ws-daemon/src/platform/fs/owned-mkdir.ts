import { lchown, mkdir } from "node:fs/promises";
import { dirname } from "node:path";

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * `mkdir -p` whose newly created directories (and only those) belong to `owner`: content the
 * daemon creates inside a workspace must be the workspace user's, like the rest of it. lchown
 * never follows a link, so a directory swapped for a symlink meanwhile changes nothing outside.
 */
export const mkdirOwned = async (
  dir: string,
  owner: Owner | undefined,
  mode = 0o755,
): Promise<void> => {
  const first = await mkdir(dir, { recursive: true, mode });
  if (!owner || first === undefined) return;
  const created: string[] = [];
  for (let p = dir; p.length >= first.length; p = dirname(p)) {
    created.push(p);
    if (p === first) break;
  }
  for (const p of created.reverse()) await lchown(p, owner.uid, owner.gid);
};
