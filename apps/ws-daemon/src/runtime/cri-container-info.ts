import type { ContainerStatusResponse } from "../gen/cri/runtime/v1/api_pb.js";
import { CriProtocolError } from "./cri-client.js";

/**
 * The host pid of a container's init process from a verbose ContainerStatus answer. containerd
 * and CRI-O both put a JSON document under info["info"] whose `pid` is the task's pid in the
 * runtime's (the node's) pid namespace; 0 means the task is not running.
 */
export function pidFromVerboseStatus(res: ContainerStatusResponse, containerId: string): number {
  const text = res.info.info;
  if (text === undefined) {
    throw new CriProtocolError(
      `ContainerStatus(${containerId}, verbose) carries no info["info"]: the runtime does not report pids`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CriProtocolError(`ContainerStatus(${containerId}): info["info"] is not JSON`);
  }
  const pid = typeof doc === "object" && doc !== null ? (doc as { pid?: unknown }).pid : undefined;
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid < 0) {
    throw new CriProtocolError(
      `ContainerStatus(${containerId}): info["info"] has no pid (got ${JSON.stringify(pid)})`,
    );
  }
  return pid;
}
