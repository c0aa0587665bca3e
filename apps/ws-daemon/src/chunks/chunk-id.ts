import { webcrypto } from "node:crypto";

/**
 * A chunk's id: sha256 (hex) of its bytes, computed on the libuv thread pool (WebCrypto), so that
 * hashing a GiB of chunks never blocks the event loop and runs beside the other stages.
 */
export async function chunkId(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest("SHA-256", bytes)).toString("hex");
}
