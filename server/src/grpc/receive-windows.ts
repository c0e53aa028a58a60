// HTTP/2 receive windows of the broker's gRPC server. grpc-js has options for its client's window
// but none for its server's, which stay at HTTP/2's 64 KiB per stream and per connection: a
// PublishStream then waits for window updates, one event-loop turn of the broker each, and
// streaming ingest stalled near 20 k events/s with both processes partly idle. Both windows are
// widened here, on grpc-js's own HTTP/2 server objects.
import type * as grpc from "@grpc/grpc-js";
import type { Http2Server, ServerHttp2Session } from "node:http2";

/** Bytes a client may send on one stream before the broker reads them. */
export const STREAM_RECEIVE_WINDOW = 256 << 10;
/** Bytes a client may send on one connection, all streams together, before the broker reads them. */
export const CONNECTION_RECEIVE_WINDOW = 4 << 20;

/** The grpc-js 1.14 server internals this relies on. */
interface ServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<Http2Server, unknown>;
}

/**
 * Before `bindAsync`: the stream window, advertised in the server's SETTINGS. Returns false (and
 * changes nothing) if grpc-js does not have the shape this was written against.
 */
export function widenStreamWindow(server: grpc.Server): boolean {
  const internals = server as unknown as ServerInternals;
  if (typeof internals.commonServerOptions !== "object" || internals.commonServerOptions === null) return false;
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: STREAM_RECEIVE_WINDOW };
  return true;
}

/** After `bindAsync`: the connection window, sent to each client as it connects. */
export function widenConnectionWindow(server: grpc.Server): boolean {
  const servers = (server as unknown as ServerInternals).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) return false;
  for (const http2Server of servers.keys()) {
    http2Server.on("session", (session: ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(CONNECTION_RECEIVE_WINDOW);
      } catch {
        // The session is already closing.
      }
    });
  }
  return true;
}
