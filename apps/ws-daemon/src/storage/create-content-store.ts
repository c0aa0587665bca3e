import { type ContentStoreOptions, FormatContentStore } from "./chunked-content-store.js";
import { LocalDirectoryObjectStore } from "./local-object-store.js";
import type { ObjectStore } from "./object-store.js";
import { S3ObjectStore, type S3ObjectStoreConfig } from "./s3-object-store.js";

export type ContentStoreConfig =
  | { kind: "local"; root: string }
  | ({ kind: "s3" } & S3ObjectStoreConfig);

export function createObjectStore(config: ContentStoreConfig): ObjectStore {
  switch (config.kind) {
    case "local":
      return new LocalDirectoryObjectStore(config.root);
    case "s3": {
      const { kind: _kind, ...s3 } = config;
      return new S3ObjectStore(s3);
    }
  }
}

/**
 * The daemon's ContentStore for a storage configuration: writes `options.format` (the full
 * tar.zst format unless set), reads both formats.
 */
export function createContentStore(
  config: ContentStoreConfig,
  options: ContentStoreOptions = {},
): FormatContentStore {
  return new FormatContentStore(createObjectStore(config), options);
}
