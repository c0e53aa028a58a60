// Request bodies on the HTTP port, held to the gRPC port's bounds on incomplete messages: every
// byte of a body counts until the body ends, per connection (a socket, or an HTTP/2 session) and
// in the same total as the gRPC port's (BROKER_MAX_INCOMPLETE_BYTES[_PER_CONNECTION]), and a body
// must arrive within BROKER_INCOMPLETE_MESSAGE_TIMEOUT_MS (incomplete-messages.ts decides). A body
// past a bound is cut off: the connection (HTTP/1.1) or stream (HTTP/2) is closed, as the gRPC port
// resets a single-request call.
import { constants as h2 } from "node:http2";
import type { Logger } from "pino";
import { BodyProgress, type ConnectionCount, type IncompleteMessages, type IncompleteVerdict } from "../incomplete-messages.js";
import type { NodeHandlerFn } from "./http-port.js";

type Request = Parameters<NodeHandlerFn>[0];

/** Counts `req`'s body against `guard` until it ends; cuts it off when a bound is passed. */
export function boundRequestBodies(guard: IncompleteMessages, log: Logger): (req: Request) => void {
  const connections = new WeakMap<object, ConnectionCount>();
  return (req) => {
    const stream = "stream" in req ? req.stream : undefined;
    const key: object = stream?.session ?? req.socket;
    let conn = connections.get(key);
    if (!conn) connections.set(key, (conn = guard.connection()));
    const length = Number(req.headers["content-length"] ?? 0);
    const end = (verdict: IncompleteVerdict) => {
      log.debug({ verdict, url: req.url }, "http request cut off: incomplete body");
      if (stream) stream.close(verdict.kind === "stalled" || verdict.kind === "too-slow" ? h2.NGHTTP2_CANCEL : h2.NGHTTP2_ENHANCE_YOUR_CALM);
      else req.socket.destroy();
    };
    // Connect reads a body as it comes: a pause is the client's.
    const tracked = guard.track(conn, end, () => false, new BodyProgress(Number.isSafeInteger(length) ? length : 0));
    // Counted as Node hands each chunk to the request (a 'data' listener would start the flow
    // before Connect reads): both HTTP/1.1's parser and HTTP/2's compatibility layer call push().
    const push = req.push.bind(req);
    req.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (chunk instanceof Uint8Array) tracked.data(chunk);
      else if (chunk === null) tracked.close();
      return push(chunk, encoding);
    };
    req.once("close", tracked.close);
  };
}
