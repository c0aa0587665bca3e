import { ArchiveContentStore, type ArchiveContentStoreOptions } from "./archive-content-store.js";
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

/** The daemon's ContentStore for a storage configuration. */
export function createContentStore(
  config: ContentStoreConfig,
  options: ArchiveContentStoreOptions = {},
): ArchiveContentStore {
  return new ArchiveContentStore(createObjectStore(config), options);
}
