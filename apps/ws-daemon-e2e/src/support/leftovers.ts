import { E2E_LABEL, TESTCONTAINERS_LABEL, TESTCONTAINERS_SESSION_LABEL } from "./labels.js";
import { docker } from "./run-command.js";

export interface RemovedResources {
  containers: string[];
  networks: string[];
  images: string[];
}

const ids = (output: string): string[] => [
  ...new Set(
    output
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean),
  ),
];

async function listByLabels(kind: "ps" | "network" | "image", labels: string[]): Promise<string[]> {
  const command = kind === "ps" ? ["ps", "-a"] : [kind, "ls"];
  const found = await Promise.all(
    labels.map((label) => docker([...command, "-q", "--no-trunc", "--filter", `label=${label}`])),
  );
  return ids(found.join("\n"));
}

/**
 * Removes every container and network a test run created (ours or testcontainers'), and the
 * images labelled as ours. Without the Ryuk reaper, this is what keeps a crashed or interrupted
 * run from leaking into the next one. The registry-free base image has no label and stays cached.
 */
export async function removeTestResources(): Promise<RemovedResources> {
  const containers = await listByLabels("ps", [E2E_LABEL, TESTCONTAINERS_SESSION_LABEL]);
  if (containers.length > 0) await docker(["rm", "--force", "--volumes", ...containers]);

  const networks = await listByLabels("network", [E2E_LABEL, TESTCONTAINERS_LABEL]);
  if (networks.length > 0) await docker(["network", "rm", ...networks]);

  const images = await listByLabels("image", [E2E_LABEL]);
  if (images.length > 0) await docker(["image", "rm", "--force", ...images]);

  return { containers, networks, images };
}

export function describeRemoved(removed: RemovedResources): string {
  const parts = Object.entries(removed)
    .filter(([, list]) => list.length > 0)
    .map(([kind, list]) => `${list.length} ${kind}`);
  return parts.length > 0 ? parts.join(", ") : "nothing";
}
