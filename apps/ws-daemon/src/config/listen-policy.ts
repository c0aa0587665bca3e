import type { z } from "zod";
import { classifyAddress } from "../platform/index.js";

/** Whether `host` names this machine's loopback only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  try {
    return classifyAddress(host) === "loopback";
  } catch {
    // a host name other than localhost may resolve to anything
    return false;
  }
}

/** The parts of the configuration the node API's authentication depends on. */
export interface ListenSettings {
  listen: { host: string; insecure: boolean };
  tls?: { clientCaFile?: string | undefined } | undefined;
  auth: { allowedClients: Partial<Record<string, string[] | undefined>> };
}

/** Whether the node API is served to clients no certificate authenticates, off loopback. */
export const servesUnauthenticatedOffLoopback = (config: ListenSettings): boolean =>
  !isLoopbackHost(config.listen.host) && config.tls?.clientCaFile === undefined;

/**
 * Authenticated by default: the node API off loopback needs mutual TLS unless the operator says
 * `listen.insecure: true`. TLS without a client CA authenticates nobody, so it does not count.
 * An allow-list without a client CA would have no identity to match.
 */
export function requireMutualTlsOffLoopback(config: ListenSettings, ctx: z.RefinementCtx): void {
  const host = config.listen.host;
  if (servesUnauthenticatedOffLoopback(config) && !config.listen.insecure) {
    if (config.tls === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["listen", "host"],
        message: `${JSON.stringify(host)} is not a loopback address: the node API there requires mutual TLS (set tls.certFile, tls.keyFile and tls.clientCaFile), or set listen.insecure: true to serve it unauthenticated`,
      });
    } else {
      ctx.addIssue({
        code: "custom",
        path: ["tls", "clientCaFile"],
        message: `required when listening on ${JSON.stringify(host)} (not loopback): TLS without a client CA authenticates no client; set listen.insecure: true to serve it unauthenticated`,
      });
    }
  }
  for (const [service, list] of Object.entries(config.auth.allowedClients)) {
    if (list !== undefined && config.tls?.clientCaFile === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["auth", "allowedClients", service],
        message:
          "an allow-list of client identities needs mutual TLS (tls.clientCaFile): without it no client has an identity",
      });
    }
  }
}
