/**
 * Child process for the chunked SIGKILL tests: runs one chunked backup or one sweep on S3 and
 * says "started" once it is under way, so the parent can kill it at a random point.
 * argv: backup|sweep endpoint bucket dir owner metaId graceMs
 */
import { FormatContentStore, S3ObjectStore } from "../../src/storage/index.js";

const [mode, endpoint, bucket, dir, owner, metaId, grace] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];
const objects = new S3ObjectStore({
  endpoint,
  bucket,
  region: "us-east-1",
  forcePathStyle: true,
  accessKeyId: "test",
  secretAccessKey: "test",
  partSize: 5 * 1024 * 1024,
  queueSize: 1,
});
const graceMs = Number(grace);
const store = new FormatContentStore(objects, {
  format: "chunked",
  packTargetBytes: 1024 * 1024,
  orphanGraceMs: graceMs,
});
process.stdout.write("started\n");
if (mode === "backup") await store.backup({ id: "child", owner, metaId }, dir);
else await store.sweep(graceMs);
process.stdout.write("done\n");
objects.destroy();
