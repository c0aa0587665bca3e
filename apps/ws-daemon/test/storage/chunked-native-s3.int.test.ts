import { describe, it } from "vitest";
import { nativeChunkerOrReason } from "../support/native-chunker.js";
import { defineChunkedStoreSuite } from "./chunked-store-suite.js";
import { useMotoS3 } from "./moto-s3.js";

const moto = useMotoS3({ bucket: "wsd-chunked-native", partSize: 5 * 1024 * 1024 });

const chunker = nativeChunkerOrReason();
if ("path" in chunker) {
  // the chunked store suite on S3 with packs written by wsd-chunker (streamed from its files)
  defineChunkedStoreSuite(
    "S3 (moto_server), written by the native chunker",
    () => ({ objects: () => moto.store() }),
    { chunkerPath: chunker.path },
  );
} else {
  console.warn(`native chunker S3 suite skipped: ${chunker.reason}`);
  describe("chunked store on S3 with the native chunker", () => {
    it.skip(`skipped: ${chunker.reason}`, () => {});
  });
}
