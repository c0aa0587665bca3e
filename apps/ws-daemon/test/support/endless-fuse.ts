import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const SERVER = fileURLToPath(new URL("./endless-fuse-server.mjs", import.meta.url));

export interface EndlessMount {
  /** Ends the file system: readers stuck in it get an error back, and the mount goes. */
  unmount(): Promise<void>;
}

/**
 * Mounts at `mountpoint` (an empty directory) a FUSE file system with one file `name` of `size`
 * bytes whose reads never return: an endless file on the real kernel, which `truncate -s 4E` on
 * XFS would give where it is available. Needs root and /dev/fuse.
 */
export async function mountEndlessFile(
  mountpoint: string,
  name: string,
  size: number,
): Promise<EndlessMount> {
  const server: ChildProcess = spawn(process.execPath, [SERVER, mountpoint, name, String(size)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = once(server, "exit");
  const ready = new Promise<void>((resolve, reject) => {
    server.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) resolve();
    });
    server.once("exit", (code) =>
      reject(new Error(`FUSE server exited (${code}) before mounting`)),
    );
  });
  await ready;
  return {
    unmount: async () => {
      // its loop blocks in read(2) on /dev/fuse, where no signal handler runs: kill it
      server.kill("SIGKILL");
      await exited;
      try {
        execFileSync("umount", ["-l", mountpoint], { stdio: "ignore" });
      } catch {
        // already gone with its server
      }
    },
  };
}

/** Whether FUSE mounts can be made here (root, /dev/fuse, the kernel's fuse file system). */
export function fuseAvailable(): boolean {
  try {
    execFileSync("sh", ["-c", "test -c /dev/fuse && grep -qw fuse /proc/filesystems"]);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}
