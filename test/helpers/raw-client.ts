// A gRPC client that sends arbitrary bytes to a method: for testing how the broker answers input
// that no well-behaved client would produce.
import * as grpc from "@grpc/grpc-js";
import { connect } from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { anyIs, anyUnpack } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema, StatusSchema } from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";

const identity = (b: Buffer) => b;

export interface RawResult {
  code: grpc.status;
  details: string;
  /** ErrorInfo.reason of the status trailer, e.g. "ERROR_REASON_MALFORMED_REQUEST". */
  reason: string;
  /** ErrorInfo.metadata of the status trailer. */
  info: Record<string, string>;
  /** Bytes the status took on the wire: grpc-message (percent-encoded) and the details (base64). */
  trailerBytes: number;
  responses: Buffer[];
}

function infoOf(metadata: grpc.Metadata | undefined): { reason: string; metadata: Record<string, string> } | undefined {
  const raw = metadata?.get("grpc-status-details-bin")[0];
  if (!(raw instanceof Buffer)) return undefined;
  const first = fromBinary(StatusSchema, raw).details[0];
  return first && anyIs(first, ErrorInfoSchema) ? anyUnpack(first, ErrorInfoSchema) : undefined;
}

function reasonOf(metadata: grpc.Metadata | undefined): string {
  return infoOf(metadata)?.reason ?? "";
}

/** The parts of a result that describe its status. */
function statusParts(code: grpc.status, details: string, metadata: grpc.Metadata | undefined): Omit<RawResult, "responses"> {
  const raw = metadata?.get("grpc-status-details-bin")[0];
  const detailBytes = raw instanceof Buffer ? Math.ceil(raw.length / 3) * 4 : 0;
  return { code, details, reason: reasonOf(metadata), info: infoOf(metadata)?.metadata ?? {}, trailerBytes: encodeURI(details).length + detailBytes };
}

export class RawClient {
  private readonly client: grpc.Client;
  constructor(
    private readonly address: string,
    options: grpc.ChannelOptions = {},
  ) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.max_send_message_length": 256 << 20, ...options });
  }

  unary(path: string, body: Uint8Array): Promise<RawResult> {
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(path, identity, identity, Buffer.from(body), (err, res) => {
        resolve({ ...statusParts(err?.code ?? grpc.status.OK, err?.details ?? "", err?.metadata), responses: res ? [res] : [] });
      });
    });
  }

  /** Sends each body on one stream (server-streaming when `bodies` has one element and `serverStream`). */
  stream(path: string, bodies: Uint8Array[], serverStream = false): Promise<RawResult> {
    return new Promise((resolve) => {
      const responses: Buffer[] = [];
      const call = serverStream
        ? this.client.makeServerStreamRequest(path, identity, identity, Buffer.from(bodies[0] ?? new Uint8Array()))
        : this.client.makeBidiStreamRequest(path, identity, identity);
      call.on("data", (b: Buffer) => responses.push(b));
      call.on("error", () => undefined);
      call.on("status", (s: grpc.StatusObject) => resolve({ ...statusParts(s.code, s.details, s.metadata), responses }));
      if (!serverStream) {
        const duplex = call as grpc.ClientDuplexStream<Buffer, Buffer>;
        for (const b of bodies) duplex.write(Buffer.from(b));
        duplex.end();
      }
    });
  }

  /**
   * Opens a server stream over plain node:http2 and does not read it, so HTTP/2 flow control pushes
   * back on the broker as a stalled consumer would (the grpc-js client keeps reading into memory
   * even when paused). `resume()` reads to the end and resolves `status`.
   */
  stalledStream(path: string, body: Uint8Array): { status: Promise<RawResult>; resume: () => void } {
    const session = connect(`http://${this.address}`);
    session.on("error", () => undefined);
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    req.end(frame);
    req.pause();
    let received = Buffer.alloc(0);
    const status = new Promise<RawResult>((resolve) => {
      const finish = (h: Record<string, unknown>) => {
        const metadata = new grpc.Metadata();
        const details = h["grpc-status-details-bin"];
        if (typeof details === "string") metadata.set("grpc-status-details-bin", Buffer.from(details, "base64"));
        const responses: Buffer[] = [];
        for (let at = 0; at + 5 <= received.length; ) {
          const len = received.readUInt32BE(at + 1);
          responses.push(received.subarray(at + 5, at + 5 + len));
          at += 5 + len;
        }
        session.close();
        resolve({ ...statusParts(Number(h["grpc-status"] ?? -1), decodeURIComponent(String(h["grpc-message"] ?? "")), metadata), responses });
      };
      req.on("response", (h) => h["grpc-status"] !== undefined && finish(h));
      req.on("trailers", finish);
      req.on("error", () => finish({ "grpc-status": grpc.status.UNAVAILABLE }));
    });
    return {
      status,
      resume: () => {
        req.on("data", (b: Buffer) => (received = Buffer.concat([received, b])));
        req.resume();
      },
    };
  }

  /** A bidirectional stream under the caller's control: write, read, cancel. */
  duplex(path: string): grpc.ClientDuplexStream<Buffer, Buffer> {
    const call = this.client.makeBidiStreamRequest(path, identity, identity);
    call.on("error", () => undefined);
    return call;
  }

  close(): void {
    this.client.close();
  }
}
