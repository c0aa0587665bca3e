/**
 * Fixtures of the git attack tests: a marker directory that a payload would write into, a
 * manifest of a bystander workspace (content and .git) to prove it unchanged, and repositories
 * with a submodule served over HTTP (so that a submodule clone is allowed by git's defaults and
 * only the daemon's own hardening can stop an update command).
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gitSync } from "../support/git-repo-fixtures.js";

/** A world-writable directory: a payload that runs as any uid could create its marker here. */
export const makeMarkerDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "wsd-pwn-"));
  await chmod(dir, 0o777);
  return dir;
};

/**
 * The command an attack plants: one marker in the marker directory (outside any workspace) and
 * one in the command's working directory (inside the sandbox, if it ran in one).
 */
export const payload = (markerDir: string, name: string): string =>
  `touch ${markerDir}/${name}; touch pwned-${name}`;

/** Every path below `root` whose name starts with "pwned" (does not follow links). */
export const findMarkers = async (root: string): Promise<string[]> => {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const path = join(dir, name);
      if (name.startsWith("pwned")) found.push(path);
      const st = await lstat(path).catch(() => undefined);
      if (st?.isDirectory()) await walk(path);
    }
  };
  await walk(root);
  return found;
};

/** Path, type, mode, owner and content hash of every entry below `root`, sorted. */
export const treeManifest = async (root: string): Promise<string[]> => {
  const lines: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(path);
      const head = `${relPath} ${st.mode.toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        lines.push(`${head} dir`);
        await walk(path, relPath);
      } else if (st.isSymbolicLink()) {
        lines.push(`${head} -> ${await readlink(path)}`);
      } else {
        const hash = createHash("sha256")
          .update(await readFile(path))
          .digest("hex");
        lines.push(`${head} ${hash}`);
      }
    }
  };
  await walk(root, "");
  return lines;
};

/**
 * A bare repository `<root>/<name>.git` whose main branch records the submodule `sub` at
 * `subUrl` (commit `subCommit`).
 */
export const createRepoWithSubmodule = async (
  root: string,
  name: string,
  subUrl: string,
  subCommit: string,
): Promise<string> => {
  const work = join(root, `${name}-work`);
  await mkdir(work);
  gitSync(work, ["init", "-q", "-b", "main"]);
  gitSync(work, ["config", "-f", ".gitmodules", "submodule.sub.path", "sub"]);
  gitSync(work, ["config", "-f", ".gitmodules", "submodule.sub.url", subUrl]);
  gitSync(work, ["add", ".gitmodules"]);
  gitSync(work, ["update-index", "--add", "--cacheinfo", `160000,${subCommit},sub`]);
  gitSync(work, ["commit", "-q", "-m", "with a submodule"]);
  const bare = join(root, `${name}.git`);
  gitSync(root, ["clone", "-q", "--bare", work, bare]);
  return bare;
};

/**
 * Writes a commit object that carries a `gpgsig` header (any text: git hands it to gpg.program
 * to verify) on top of HEAD, and moves the current branch to it.
 */
export const commitWithSignatureHeader = (checkout: string): string => {
  const tree = gitSync(checkout, ["rev-parse", "HEAD^{tree}"]).trim();
  const parent = gitSync(checkout, ["rev-parse", "HEAD"]).trim();
  const body = [
    `tree ${tree}`,
    `parent ${parent}`,
    "author A <a@example.com> 1700000000 +0000",
    "committer A <a@example.com> 1700000000 +0000",
    "gpgsig -----BEGIN PGP SIGNATURE-----",
    " ",
    " iQEzBAABCAAdFiEE",
    " -----END PGP SIGNATURE-----",
    "",
    "signed (not really)",
    "",
  ].join("\n");
  const sha = hashCommitObject(checkout, body);
  gitSync(checkout, ["update-ref", "HEAD", sha]);
  return sha;
};

const hashCommitObject = (cwd: string, body: string): string => {
  // gitSync has no stdin: the object goes through a file
  const file = join(cwd, ".git", "signed-commit.txt");
  writeFileSync(file, body);
  return gitSync(cwd, ["hash-object", "-t", "commit", "-w", file]).trim();
};
