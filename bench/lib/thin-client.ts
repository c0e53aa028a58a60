// A thin gRPC unary client over node:http2: the grpc-js client costs more per call than the broker
// does to answer it, so it would measure itself.
import { connect, constants, type ClientHttp2Session } from "node:http2";

/** A message with the 5-byte gRPC prefix (uncompressed, length). */
export function framed(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

export class ThinClient {
  private readonly session: ClientHttp2Session;
  /** `token`: sent as a bearer token in each call's `authorization` header. */
  constructor(
    address: string,
    private readonly token?: string,
  ) {
    // Node refuses new streams with ENHANCE_YOUR_CALM once a session holds 10 MB (its default);
    // an open-loop load behind a stalled broker holds more than that.
    this.session = connect(`http://${address}`, { maxSessionMemory: 1024 });
    this.session.on("error", () => undefined);
  }

  /** Sends one framed request; resolves with the grpc-status (0 = OK). */
  call(path: string, framed: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = this.session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: path,
        "content-type": "application/grpc",
        te: "trailers",
        ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }),
      });
      let status = -1;
      req.on("response", (h) => {
        if (h["grpc-status"] !== undefined) status = Number(h["grpc-status"]);
      });
      req.on("trailers", (t) => (status = Number(t["grpc-status"] ?? -1)));
      req.on("data", () => undefined);
      req.on("end", () => resolve(status));
      req.on("error", reject);
      req.end(framed);
    });
  }

  close(): void {
    this.session.close();
  }
}
