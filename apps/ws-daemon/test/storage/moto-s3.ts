import { afterAll, beforeAll } from "vitest";
import { S3ObjectStore, type S3ObjectStoreConfig } from "../../src/storage/index.js";
import { type MotoServer, startMotoServer } from "../support/moto-server.js";

export interface MotoS3 {
  readonly endpoint: string;
  /** The settings of a store on moto: any credentials pass; `overrides` win. */
  config(overrides?: Partial<S3ObjectStoreConfig>): S3ObjectStoreConfig;
  /** A store with config(overrides), destroyed after the file's tests. */
  store(overrides?: Partial<S3ObjectStoreConfig>): S3ObjectStore;
  /** Destroys `store` after the file's tests too. */
  adopt(store: S3ObjectStore): S3ObjectStore;
}

/**
 * moto_server (an in-memory S3) for the calling test file: started before its tests, stopped after
 * them together with every store made through it. `defaults` apply to every config().
 */
export function useMotoS3(defaults: Partial<S3ObjectStoreConfig> & { bucket: string }): MotoS3 {
  let moto: MotoServer | undefined;
  const stores: S3ObjectStore[] = [];
  beforeAll(async () => {
    moto = await startMotoServer();
  });
  afterAll(async () => {
    for (const s of stores) s.destroy();
    await moto?.stop();
  });
  const endpoint = (): string => {
    if (!moto) throw new Error("moto_server is only running during the file's tests");
    return moto.endpoint;
  };
  const config = (overrides: Partial<S3ObjectStoreConfig> = {}): S3ObjectStoreConfig => ({
    endpoint: endpoint(),
    region: "us-east-1",
    forcePathStyle: true,
    accessKeyId: "test",
    secretAccessKey: "test",
    createBucket: true,
    ...defaults,
    ...overrides,
  });
  const adopt = (store: S3ObjectStore) => {
    stores.push(store);
    return store;
  };
  return {
    get endpoint() {
      return endpoint();
    },
    config,
    store: (overrides) => adopt(new S3ObjectStore(config(overrides))),
    adopt,
  };
}
