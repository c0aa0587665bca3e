import type { StartedNetwork } from "testcontainers";
import { docker } from "./run-command.js";

export { type MotoServer, startMotoServer } from "@ws-daemon/test-support";

/**
 * The host's address on a test network: containers attached to that network reach host
 * processes bound to it, while nothing outside this machine does.
 */
export async function networkGateway(network: StartedNetwork): Promise<string> {
  const gateway = (
    await docker([
      "network",
      "inspect",
      "--format",
      "{{(index .IPAM.Config 0).Gateway}}",
      network.getId(),
    ])
  ).trim();
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(gateway)) {
    throw new Error(`network ${network.getName()} has no IPv4 gateway (got "${gateway}")`);
  }
  return gateway;
}
