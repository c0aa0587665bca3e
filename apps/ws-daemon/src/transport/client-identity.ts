import type * as http from "node:http";
import type * as http2 from "node:http2";
import { type PeerCertificate, TLSSocket } from "node:tls";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextKey,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";

/** Who a client certificate names: its subject alternative names (DNS, URI) and subject CN. */
export interface ClientIdentity {
  names: string[];
}

/** Set on every call of the node API: undefined when the client presented no verified certificate. */
export const clientIdentityKey = createContextKey<ClientIdentity | undefined>(undefined, {
  description: "verified client certificate identity",
});

/** `DNS:a, URI:spiffe://b, IP Address:1.2.3.4` (values with special characters are JSON-quoted). */
const SAN_ENTRY = /(?:^|,\s*)(DNS|URI):("(?:[^"\\]|\\.)*"|[^,]*)/g;

function namesOf(cert: PeerCertificate): string[] {
  const names: string[] = [];
  for (const m of (cert.subjectaltname ?? "").matchAll(SAN_ENTRY)) {
    const raw = m[2] ?? "";
    names.push(raw.startsWith('"') ? (JSON.parse(raw) as string) : raw);
  }
  // a subject may be missing in a malformed certificate, whatever the type says
  const cn = (cert.subject as PeerCertificate["subject"] | undefined)?.CN;
  for (const name of Array.isArray(cn) ? cn : cn === undefined ? [] : [cn]) names.push(name);
  return names.filter((n) => n !== "");
}

/** The TLS socket under an HTTP/1.1 or HTTP/2 request, if it is one. */
function tlsSocketOf(req: http.IncomingMessage | http2.Http2ServerRequest): TLSSocket | undefined {
  const socket = "stream" in req ? req.stream.session?.socket : req.socket;
  return socket instanceof TLSSocket ? socket : undefined;
}

/** A connection keeps its certificate: read once per TLS socket, not per call. */
const identities = new WeakMap<TLSSocket, ClientIdentity | undefined>();

/** The identity of a request's client: only a certificate the TLS handshake verified counts. */
export function clientIdentityOf(
  req: http.IncomingMessage | http2.Http2ServerRequest,
): ClientIdentity | undefined {
  const socket = tlsSocketOf(req);
  if (!socket?.authorized) return undefined;
  if (identities.has(socket)) return identities.get(socket);
  const cert = socket.getPeerCertificate();
  const identity = cert && Object.keys(cert).length > 0 ? { names: namesOf(cert) } : undefined;
  identities.set(socket, identity);
  return identity;
}

/** Context values of a node API request: the client's identity for the allow-list. */
export const identityContextValues = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
): ContextValues => createContextValues().set(clientIdentityKey, clientIdentityOf(req));

/**
 * Per service (by type name), the client identities allowed to call it; a service without a
 * list is open to every client the transport let in (with mutual TLS: every certificate the
 * client CA signed). A client not on its service's list gets PERMISSION_DENIED.
 */
export function createClientAllowListInterceptor(
  allowed: ReadonlyMap<string, readonly string[]>,
): Interceptor {
  return (next) => async (req) => {
    const list = allowed.get(req.service.typeName);
    if (list !== undefined) {
      const identity = req.contextValues.get(clientIdentityKey);
      if (!identity?.names.some((name) => list.includes(name))) {
        throw new ConnectError(
          `client ${identity ? JSON.stringify(identity.names) : "without a certificate"} is not allowed to call ${req.service.typeName}`,
          Code.PermissionDenied,
        );
      }
    }
    return next(req);
  };
}
