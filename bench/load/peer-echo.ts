// The gRPC ceiling: a grpc-js server that answers each 500-byte message at once, as a child
// process ("serve"), driven by the same thin client as the broker ("unary") or by a grpc-js
// stream ("stream").
import * as grpc from "@grpc/grpc-js";
import { ThinClient } from "../lib/thin-client.js";
import { args, report } from "../lib/stats.js";

const { mode, address, concurrency = 50, seconds = 5, count = 100_000 } = args<{ mode: "serve" | "unary" | "stream"; address?: string; concurrency?: number; seconds?: number; count?: number }>();
const identity = (b: Buffer) => b;
const ACK = Buffer.alloc(60, 1);
const def = {
  unary: { path: "/bench.Echo/Unary", requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  stream: { path: "/bench.Echo/Stream", requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

if (mode === "serve") {
  const server = new grpc.Server();
  server.addService(def as grpc.ServiceDefinition, {
    unary: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, ACK),
    stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on("data", () => call.write(ACK));
      call.on("end", () => call.end());
    },
  });
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.stdout.write(`PORT ${port}\n`);
  });
} else if (mode === "unary") {
  const client = new ThinClient(address ?? "");
  const frame = Buffer.alloc(505, 7);
  frame[0] = 0;
  frame.writeUInt32BE(500, 1);
  await Promise.all(Array.from({ length: 200 }, () => client.call("/bench.Echo/Unary", frame)));
  let done = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) if ((await client.call("/bench.Echo/Unary", frame)) === 0) done++;
  }));
  report({ mode, calls: done, perSec: (done / (performance.now() - t0)) * 1000 });
  client.close();
} else {
  const client = new grpc.Client(address ?? "", grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(def.stream.path, identity, identity);
  const payload = Buffer.alloc(500, 7);
  let got = 0;
  const t0 = performance.now();
  const all = new Promise<void>((resolve) => call.on("data", () => ++got === count && resolve()));
  for (let i = 0; i < count; i++) if (!call.write(payload)) await new Promise((r) => call.once("drain", r));
  await all;
  call.end();
  report({ mode, messages: count, perSec: (count / (performance.now() - t0)) * 1000 });
  client.close();
}
