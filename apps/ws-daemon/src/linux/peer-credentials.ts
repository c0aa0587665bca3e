import { fstatSync } from "node:fs";
import type { Socket } from "node:net";
import type { ProcessRunner } from "../platform/index.js";
import { NsHelper } from "./ns-helper.js";

/** Who is at the other end of a Unix socket connection (SO_PEERCRED), in the daemon's view. */
export interface PeerCredentials {
  /** In the daemon's pid namespace; the process that connected (it may have exited since). */
  pid: number;
  uid: number;
  gid: number;
}

/** The descriptor under a net.Socket (libuv keeps it in the handle; not public API). */
const fdOf = (socket: Socket): number | undefined => {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
};

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

/**
 * Reads SO_PEERCRED of one of the daemon's connected Unix sockets. Node has no API for it: the
 * namespace helper duplicates the descriptor out of the daemon (pidfd_getfd) and asks the kernel;
 * one short process per connection. The helper reports the socket's inode, and the answer counts
 * only if it is the inode of our socket, so a descriptor number reused in between is not misread.
 */
export async function readPeerCredentials(
  runner: ProcessRunner,
  helperPath: string,
  socket: Socket,
): Promise<PeerCredentials | undefined> {
  const fd = fdOf(socket);
  if (fd === undefined) return undefined;
  const ino = fstatSync(fd).ino;
  const out = await new NsHelper(runner, helperPath).run("peercred", [process.pid, fd]);
  if (out.ino !== ino || !isCount(out.pid) || !isCount(out.uid) || !isCount(out.gid)) {
    return undefined;
  }
  return { pid: out.pid, uid: out.uid, gid: out.gid };
}
