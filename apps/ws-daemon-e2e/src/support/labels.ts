/**
 * Every container, network and image the suite creates carries this label, so a later run
 * can find and remove what a crashed run left behind (there is no Ryuk reaper here: its
 * image cannot be pulled without a registry).
 */
export const E2E_LABEL = "org.ws-daemon.e2e";

export const e2eLabels: Record<string, string> = { [E2E_LABEL]: "true" };

/** Set by testcontainers on everything it creates. */
export const TESTCONTAINERS_SESSION_LABEL = "org.testcontainers.session-id";

export const TESTCONTAINERS_LABEL = "org.testcontainers";
