/** PEM material of createTestPki, as plain data (provide/inject serializes it). */
export interface E2ePki {
  /** Holds test-ca.crt, test-server.crt and test-server.key, mounted into daemon containers. */
  dir: string;
  ca: string;
  otherCa: string;
  client: { cert: string; key: string };
  /** Signed by otherCa. */
  strangerClient: { cert: string; key: string };
}

/** Values global-setup.ts hands to the test files through vitest's provide/inject. */
declare module "vitest" {
  export interface ProvidedContext {
    /** Tag of the daemon image built for this run. */
    daemonImage: string;
    /** The registry-free base image the daemon image was built FROM. */
    baseImage: string;
    /** True when the daemon bundle was missing and a stand-in was baked in (image checks only). */
    placeholderBundle: boolean;
    /** The run's throwaway PKI: daemons serve mutual TLS with its server pair and CA. */
    pki: E2ePki;
  }
}
