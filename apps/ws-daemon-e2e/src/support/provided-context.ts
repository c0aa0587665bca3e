/** Values global-setup.ts hands to the test files through vitest's provide/inject. */
declare module "vitest" {
  export interface ProvidedContext {
    /** Tag of the daemon image built for this run. */
    daemonImage: string;
    /** The registry-free base image the daemon image was built FROM. */
    baseImage: string;
    /** True when the daemon bundle was missing and a stand-in was baked in (image checks only). */
    placeholderBundle: boolean;
  }
}

export {};
