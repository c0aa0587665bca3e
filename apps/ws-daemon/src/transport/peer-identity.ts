import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { Socket } from "node:net";
import {
  type ContextValues,
  createContextKey,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import type { Logger } from "../observability/index.js";

/** The peer of an in-workspace connection, as the kernel reported it when it connected. */
export interface PeerProcess {
  pid: number;
  uid: number;
  gid: number;
}

/** Looks up a connection's peer; undefined or a rejection when that is not possible here. */
export type PeerLookup = (socket: Socket) => Promise<PeerProcess | undefined>;

const peerKey = createContextKey<Promise<PeerProcess | undefined> | undefined>(undefined, {
  description: "peer credentials of the in-workspace connection",
});

/** How long a call waits for its connection's peer to be known before it is logged without. */
const PEER_WAIT_MS = 2000;

function socketOf(req: http.IncomingMessage | http2.Http2ServerRequest): Socket | undefined {
  return "stream" in req ? req.stream.session?.socket : req.socket;
}

/**
 * One lookup per connection (a connection keeps its peer), shared by all its calls. The result
 * is for the log: the socket a call arrives on, not its peer, decides what the call may touch.
 */
export function peerContextValues(
  lookup: PeerLookup,
): (req: http.IncomingMessage | http2.Http2ServerRequest) => ContextValues {
  const byConnection = new WeakMap<object, Promise<PeerProcess | undefined>>();
  return (req) => {
    const socket = socketOf(req);
    let peer: Promise<PeerProcess | undefined> | undefined;
    if (socket) {
      peer = byConnection.get(socket);
      if (!peer) {
        peer = lookup(socket).catch(() => undefined);
        byConnection.set(socket, peer);
      }
    }
    return createContextValues().set(peerKey, peer);
  };
}

/** Logs the pid, uid and gid of each in-workspace call's caller (SO_PEERCRED) when known. */
export function createPeerLogInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const pending = req.contextValues.get(peerKey);
    let timer: NodeJS.Timeout | undefined;
    const peer = pending
      ? await Promise.race([
          pending,
          new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), PEER_WAIT_MS);
          }),
        ])
      : undefined;
    clearTimeout(timer);
    if (peer) {
      logger.info(
        { peerPid: peer.pid, peerUid: peer.uid, peerGid: peer.gid },
        "in-workspace caller",
      );
    } else logger.info({ peerPid: null }, "in-workspace caller (peer credentials unknown)");
    return next(req);
  };
}
