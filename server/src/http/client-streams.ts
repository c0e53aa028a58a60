// Streams from the client (PublishStream, Consume) need one HTTP/2 stream open both ways, which
// curl, browsers and HTTP/1.1 cannot give: they are served on the gRPC port only. Connect's own
// answer to them on HTTP/1.1 is a bare 505; this answers UNIMPLEMENTED, saying where to go, in the
// error form of the protocol the client speaks.
import type { DescService } from "@bufbuild/protobuf";
import { methodPath } from "../../../sdk/src/grpc/service-definition.js";

/** The request paths of every method of `services` that streams requests from the client. */
export function clientStreamPaths(services: readonly DescService[]): ReadonlyMap<string, string> {
  const paths = new Map<string, string>();
  for (const s of services) {
    for (const m of s.methods) if (m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming") paths.set(methodPath(m), m.name);
  }
  return paths;
}

/** Connect's end-of-stream frame (flag 0b10) carrying an error, for clients of its streaming protocol. */
function endStreamFrame(code: string, message: string): Buffer {
  const json = Buffer.from(JSON.stringify({ error: { code, message } }));
  const head = Buffer.alloc(5);
  head.writeUInt8(0b10, 0);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

/** What this reads of an HTTP/1.1 or HTTP/2 request, and writes of its response. */
interface RequestLike {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  resume(): unknown;
}
interface ResponseLike {
  writeHead(status: number, headers: Record<string, string>): { end(body?: string | Uint8Array): unknown };
}

/** Answers a call to a client-streaming method with UNIMPLEMENTED, in the client's protocol. */
export function refuseClientStream(req: RequestLike, res: ResponseLike, path: string): void {
  const message = `${path.slice(1)} streams requests from the client: it is served on the gRPC port only (BROKER_GRPC_PORT); publish with Publish or PublishBatch here`;
  const contentType = String(req.headers["content-type"] ?? "");
  // The request body is not read: drain it, so that a keep-alive connection stays usable.
  req.resume();
  if (contentType.startsWith("application/grpc-web")) {
    res.writeHead(200, { "content-type": contentType, "grpc-status": "12", "grpc-message": encodeURIComponent(message) }).end();
  } else if (contentType.startsWith("application/connect+")) {
    res.writeHead(200, { "content-type": contentType }).end(endStreamFrame("unimplemented", message));
  } else {
    res.writeHead(501, { "content-type": "application/json" }).end(JSON.stringify({ code: "unimplemented", message }));
  }
}
