import type * as net from "node:net";
import { errnoCode } from "../platform/index.js";
import type { TransportLimits } from "./transport-limits.js";

/** What Node's HTTP server keeps on a connection socket; only read here, never changed. */
interface Http1SocketState {
  /** The response of the request being served; unset between keep-alive requests. */
  _httpMessage?: unknown;
}

/**
 * Tells `exceeded` when Node's HTTP/1.1 server closes `socket` for one of our timeouts, which it
 * does on its own (see http1Timeouts in rpc-server.ts): an unfinished request past headersTimeout
 * or requestTimeout ends the socket with ERR_HTTP_REQUEST_TIMEOUT (after a 408), and a keep-alive
 * connection idle past keepAliveTimeout fires the socket's timeout. Only listeners are added, so
 * Node's handling (the 408, the close) stays as it is: a `clientError` or server `timeout`
 * listener would replace it.
 */
export function countHttp1Timeouts(
  socket: net.Socket,
  exceeded: (limit: keyof TransportLimits) => void,
): void {
  socket.on("error", (err: Error) => {
    if (errnoCode(err) !== "ERR_HTTP_REQUEST_TIMEOUT") return;
    // a response exists once the headers were complete: then the body (the request) was too slow
    const served = (socket as net.Socket & Http1SocketState)._httpMessage;
    exceeded(served ? "requestTimeoutMs" : "headersTimeoutMs");
  });
  // the server sets a socket timeout only while a keep-alive connection waits for its next request
  socket.on("timeout", () => exceeded("idleTimeoutMs"));
}
