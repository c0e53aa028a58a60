// Unary Publish from a thin HTTP/2 client. "saturate": `concurrency` callers in a closed loop for
// `seconds`. "rate": open loop at `rate` calls/s, latency counted from the scheduled send time,
// so a stall is not hidden by the generator waiting for it; a call is never sent before its time
// (a timer wakes at most a millisecond late, and every call due by then goes out). With
// `traceFile` (rate mode), each call's id, scheduled time, send time and answer time (monotonic
// host clock, ms) go to that file, for the bench to join with the broker's commit trace. With
// `echo`, the same load goes to bench/load/peer-echo.ts's unary method (a 500-byte message,
// answered at once): the floor a gRPC server in Node.js has on this machine under this client.
import { writeFileSync } from "node:fs";
import { newEventId } from "../../sdk/src/index.js";
import { RequestTemplate } from "../lib/events.js";
import { ThinClient } from "../lib/thin-client.js";
import { args, latencySummary, report } from "../lib/stats.js";

const { address, mode, concurrency = 50, rate = 1000, seconds, source, credentials, traceFile, warmupSeconds = 0, echo = false } = args<{
  address: string;
  mode: "saturate" | "rate";
  concurrency?: number;
  rate?: number;
  seconds: number;
  source: string;
  credentials?: string;
  traceFile?: string;
  warmupSeconds?: number;
  echo?: boolean;
}>();
const PATH = echo ? "/bench.Echo/Unary" : "/qingyu.broker.v1.EventBrokerService/Publish";
const client = new ThinClient(address, credentials);
const template = new RequestTemplate(source);
const ECHO_FRAME = Buffer.alloc(505, 7);
ECHO_FRAME[0] = 0;
ECHO_FRAME.writeUInt32BE(500, 1);
const frame = (id?: string): Buffer => (echo ? ECHO_FRAME : template.frame(id));
// Warm-up: connection, JIT.
await Promise.all(Array.from({ length: 200 }, () => client.call(PATH, frame())));

if (mode === "saturate") {
  let done = 0;
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      if ((await client.call(PATH, frame())) === 0) done++;
      else errors++;
    }
  }));
  const ms = performance.now() - t0;
  report({ calls: done, errors, ms, perSec: (done / ms) * 1000 });
} else {
  // performance.now() on the monotonic host clock that the broker's trace uses.
  const origin = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  const latencies: number[] = [];
  const trace: string[] = [];
  let errors = 0;
  // `warmupSeconds` at the same rate first, not counted: the open loop's steady state.
  const warm = Math.round(rate * warmupSeconds);
  const total = warm + Math.round(rate * seconds);
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const scheduled = t0 + (i * 1000) / rate;
    // A timer may fire a fraction of a millisecond early (it counts whole ms from the loop's clock).
    for (let wait = scheduled - performance.now(); wait > 0; wait = scheduled - performance.now()) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
    const id = newEventId();
    const sent = performance.now();
    inflight.push(client.call(PATH, frame(id)).then((s) => {
      if (i < warm) return;
      const done = performance.now();
      if (s === 0) latencies.push(done - scheduled);
      else errors++;
      if (traceFile) trace.push(`${id} ${(origin + scheduled).toFixed(3)} ${(origin + sent).toFixed(3)} ${(origin + done).toFixed(3)} ${s}`);
    }));
  }
  await Promise.all(inflight);
  if (traceFile) writeFileSync(traceFile, `${trace.join("\n")}\n`);
  report({ rate, calls: latencies.length, errors, ...latencySummary(latencies) });
}
client.close();
