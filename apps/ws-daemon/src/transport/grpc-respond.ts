import * as http2 from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { CallHeaders } from "./call-headers.js";

const RESPONSE_CONTENT_TYPE = "application/grpc+proto";
export const ENVELOPE_HEADER_BYTES = 5;

/** Adds `from` to an HTTP/2 header block; an interceptor may have put a plain Headers there. */
function copyInto(
  target: http2.OutgoingHttpHeaders,
  from: Headers | undefined,
): http2.OutgoingHttpHeaders {
  if (from instanceof CallHeaders) return from.writeTo(target);
  from?.forEach((value, key) => {
    target[key] = value;
  });
  return target;
}

/** One enveloped message, then the trailers with status OK. */
export function respondMessage(
  stream: http2.ServerHttp2Stream,
  payload: Uint8Array,
  header: Headers,
  trailer: Headers,
): void {
  if (stream.destroyed || stream.headersSent) return;
  const frame = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + payload.length);
  frame[0] = 0;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, ENVELOPE_HEADER_BYTES);
  const trailers = copyInto({}, trailer);
  trailers["grpc-status"] = "0";
  stream.once("wantTrailers", () => stream.sendTrailers(trailers));
  stream.respond(copyInto({ ":status": 200, "content-type": RESPONSE_CONTENT_TYPE }, header), {
    waitForTrailers: true,
  });
  stream.end(frame);
}

/**
 * A trailers-only response carrying the status, with the handler's response headers and
 * trailers (connect-node sends the same in a header block and a trailer block); the rest of the
 * request body is not read.
 */
export function respondError(
  stream: http2.ServerHttp2Stream,
  error: ConnectError,
  header: Headers | undefined,
  trailer?: Headers | undefined,
): void {
  if (stream.destroyed || stream.headersSent) return;
  const merged = new Headers(header);
  trailer?.forEach((value, key) => {
    merged.set(key, value);
  });
  const status = setTrailerStatus(merged, error);
  status.set("grpc-message", percentEncodeMessage(error.rawMessage));
  stream.respond(copyInto({ ":status": 200, "content-type": RESPONSE_CONTENT_TYPE }, status), {
    endStream: true,
  });
  // whatever the client still sends is of no use: stop it without an error (RST_STREAM NO_ERROR)
  if (!stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/**
 * grpc-message as the gRPC spec encodes it: only bytes outside printable ASCII and "%" are
 * percent-encoded. encodeURIComponent also encodes "," and the like, which gRPC libraries that
 * decode with decodeURI (grpc-js) then show as "%2C".
 */
export function percentEncodeMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
