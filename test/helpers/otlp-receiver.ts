// A local OTLP/HTTP endpoint for tests: receives POST /v1/traces and decodes the protobuf
// ExportTraceServiceRequest (opentelemetry/proto/collector/trace/v1) itself, keeping the fields the
// tests look at. The decoder walks the wire format with protobuf-es's BinaryReader.
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import { gunzipSync } from "node:zlib";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  scope: string;
  resource: Record<string, string | number | boolean>;
}

export interface OtlpRequest {
  path: string;
  contentType: string;
  spans: OtlpSpan[];
}

type Fields = (field: number, r: BinaryReader, wt: WireType) => boolean;

/** Reads a message of `bytes`, handing each field to `on`; fields it does not take are skipped. */
function walk(bytes: Uint8Array, on: Fields): void {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    if (!on(field, r, wt)) r.skip(wt, field);
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function anyValue(bytes: Uint8Array): string | number | boolean {
  let v: string | number | boolean = "";
  walk(bytes, (f, r) => {
    if (f === 1) v = r.string();
    else if (f === 2) v = r.bool();
    else if (f === 3) v = Number(r.int64());
    else if (f === 4) v = r.double();
    else return false;
    return true;
  });
  return v;
}

function keyValue(bytes: Uint8Array, into: Record<string, string | number | boolean>): void {
  let key = "";
  let value: string | number | boolean = "";
  walk(bytes, (f, r) => {
    if (f === 1) key = r.string();
    else if (f === 2) value = anyValue(r.bytes());
    else return false;
    return true;
  });
  into[key] = value;
}

function span(bytes: Uint8Array, scope: string, resource: OtlpSpan["resource"]): OtlpSpan {
  const s: OtlpSpan = { traceId: "", spanId: "", parentSpanId: "", name: "", kind: 0, attributes: {}, scope, resource };
  walk(bytes, (f, r) => {
    if (f === 1) s.traceId = hex(r.bytes());
    else if (f === 2) s.spanId = hex(r.bytes());
    else if (f === 4) s.parentSpanId = hex(r.bytes());
    else if (f === 5) s.name = r.string();
    else if (f === 6) s.kind = r.int32();
    else if (f === 9) keyValue(r.bytes(), s.attributes);
    else return false;
    return true;
  });
  return s;
}

function scopeSpans(bytes: Uint8Array, resource: OtlpSpan["resource"], out: OtlpSpan[]): void {
  let scope = "";
  const raw: Uint8Array[] = [];
  walk(bytes, (f, r) => {
    if (f === 1) walk(r.bytes(), (g, s) => (g === 1 ? ((scope = s.string()), true) : false));
    else if (f === 2) raw.push(r.bytes());
    else return false;
    return true;
  });
  for (const b of raw) out.push(span(b, scope, resource));
}

/** Decodes an ExportTraceServiceRequest into its spans. */
export function decodeTraceRequest(bytes: Uint8Array): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  walk(bytes, (f, r) => {
    if (f !== 1) return false;
    const resource: OtlpSpan["resource"] = {};
    const scopes: Uint8Array[] = [];
    walk(r.bytes(), (g, rs) => {
      if (g === 1) walk(rs.bytes(), (h, res) => (h === 1 ? (keyValue(res.bytes(), resource), true) : false));
      else if (g === 2) scopes.push(rs.bytes());
      else return false;
      return true;
    });
    for (const s of scopes) scopeSpans(s, resource, out);
    return true;
  });
  return out;
}

export interface OtlpReceiver {
  readonly url: string;
  readonly requests: OtlpRequest[];
  close(): Promise<void>;
}

/** Listens on a free loopback port and answers every export with 200 (an empty response). */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: OtlpRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
      requests.push({ path: req.url ?? "", contentType: req.headers["content-type"] ?? "", spans: decodeTraceRequest(body) });
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
