/**
 * The security-critical modules of issue 17 (finding 6), each with the tests that target it.
 * Only these tests run against the module's mutants, so a mutant counts as killed only when a
 * test written for that module notices it, not when some distant test happens to trip over it.
 * Paths are relative to apps/ws-daemon; unit tests only (`*.int.test.ts` need a prepared host).
 */
export interface MutationModule {
  name: string;
  mutate: string[];
  tests: string[];
  /** Tests being rewritten elsewhere: the score is reported, but as provisional. */
  provisional?: string;
  /**
   * "off" runs every test against every mutant: for code that runs in worker threads, whose
   * coverage Stryker cannot see (it would count those mutants as not covered). Default perTest.
   */
  coverageAnalysis?: "perTest" | "off";
}

export const MUTATION_MODULES: readonly MutationModule[] = [
  {
    name: "safe-path",
    mutate: ["src/platform/fs/safe-path.ts"],
    tests: ["test/platform/safe-path*.test.ts", "test/content/safe-path.test.ts"],
  },
  {
    name: "object-keys",
    mutate: ["src/storage/object-keys.ts"],
    tests: ["test/storage/object-keys*.test.ts"],
  },
  {
    name: "id-mapping",
    mutate: ["src/linux/id-mapping.ts"],
    tests: ["test/linux/id-mapping*.test.ts"],
  },
  {
    name: "workspace-id",
    mutate: ["src/content/workspace-id.ts"],
    tests: ["test/content/workspace-id*.test.ts"],
  },
  {
    name: "validate-spec",
    mutate: ["src/git/validate-spec.ts"],
    tests: ["test/git/*spec*.test.ts", "test/git/git-clone.test.ts"],
  },
  {
    // which git settings and which repository keys keep git's connections to checked addresses
    name: "git-network",
    mutate: ["src/git/git-network.ts"],
    tests: ["test/git/git-network.test.ts"],
  },
  {
    name: "safe-extractor",
    mutate: ["src/archive/safe-extractor.ts"],
    tests: [
      "test/archive/hostile.test.ts",
      "test/archive/tar-parser.test.ts",
      "test/archive/round-trip.test.ts",
      "test/archive/restore-failure.test.ts",
      "test/archive/*extract*.test.ts",
    ],
    // Extraction runs in a worker thread (archive/worker-pool.ts).
    coverageAnalysis: "off",
  },
];
