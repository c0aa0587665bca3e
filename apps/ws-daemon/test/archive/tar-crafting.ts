import { execFileSync } from "node:child_process";
import tar from "tar-stream";

/** An entry as tar-stream's packer takes it, with its content inline. */
export type CraftedEntry = Parameters<ReturnType<typeof tar.pack>["entry"]>[0] & {
  body?: string | Buffer;
};

/** An uncompressed tar of `entries`, written by tar-stream exactly as an attacker could. */
export async function packEntries(entries: CraftedEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const { body, ...header } of entries) {
    if (body !== undefined) pack.entry({ ...header, size: Buffer.byteLength(body) }, body);
    else pack.entry(header);
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** `tar` compressed by the zstd CLI. */
export const compress = (tar: Buffer): Buffer =>
  execFileSync("zstd", ["-q", "-c"], { input: tar, maxBuffer: 256 * 1024 * 1024 });

/** The .tar.zst of `entries`, crafted as above. */
export async function craftArchive(entries: CraftedEntry[]): Promise<Buffer> {
  return compress(await packEntries(entries));
}
