import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";

/** Writes a small tree with the cases archives get wrong: modes, nesting, symlinks, empty dirs. */
export async function writeSampleContent(dir: string, flavour: string): Promise<void> {
  await mkdir(path.join(dir, "src", "nested"), { recursive: true });
  await writeFile(path.join(dir, "README.md"), `sample content (${flavour})\n`);
  await writeFile(path.join(dir, "src", "nested", "data.bin"), Buffer.alloc(300_000, flavour));
  await writeFile(path.join(dir, "build.sh"), "#!/bin/sh\necho build\n");
  await chmod(path.join(dir, "build.sh"), 0o755);
  await writeFile(path.join(dir, "private.key"), "not really a key\n");
  await chmod(path.join(dir, "private.key"), 0o600);
  await symlink("src/nested/data.bin", path.join(dir, "data-link"));
  await mkdir(path.join(dir, "empty"));
}
