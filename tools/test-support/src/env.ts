/** Facts about the machine the tests run on, decided once at collection time. */
export const isRoot = process.getuid?.() === 0;

/** The line a test prints when it skips because it is not root, so CI logs say why. */
export const notRootReason = (what: string): string =>
  `${what} skipped: needs root (namespaces, mounts, cgroups); run the suite as root`;
