/**
 * Child process for the SIGKILL test: backs up a directory to S3 and says "uploading" once a good
 * part of the archive is on its way, so the parent can kill it mid-upload.
 * argv: endpoint bucket dir owner metaId
 */
import { ArchiveContentStore, S3ObjectStore } from "../../src/storage/index.js";

const [endpoint, bucket, dir, owner, metaId] = process.argv.slice(2) as [
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
const store = new ArchiveContentStore(objects);
let announced = false;
await store.backup({ id: "child", owner, metaId }, dir, {
  onProgress: (p) => {
    if (!announced && p.bytes > 12 * 1024 * 1024) {
      announced = true;
      process.stdout.write("uploading\n");
    }
  },
});
process.stdout.write("done\n");
objects.destroy();
