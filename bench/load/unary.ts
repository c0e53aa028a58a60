// Unary Publish from a thin HTTP/2 client. "saturate": `concurrency` callers in a closed loop for
// `seconds`. "rate": open loop at `rate` calls/s, latency counted from the scheduled send time,
// so a stall is not hidden by the generator waiting for it.
import { RequestTemplate } from "../lib/events.js";
import { ThinClient } from "../lib/thin-client.js";
import { args, latencySummary, report } from "../lib/stats.js";

const PATH = "/qingyu.broker.v1.EventBrokerService/Publish";
const { address, mode, concurrency = 50, rate = 1000, seconds, source } = args<{ address: string; mode: "saturate" | "rate"; concurrency?: number; rate?: number; seconds: number; source: string }>();
const client = new ThinClient(address);
const template = new RequestTemplate(source);
// Warm-up: connection, JIT.
await Promise.all(Array.from({ length: 200 }, () => client.call(PATH, template.frame())));

if (mode === "saturate") {
  let done = 0;
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      if ((await client.call(PATH, template.frame())) === 0) done++;
      else errors++;
    }
  }));
  const ms = performance.now() - t0;
  report({ calls: done, errors, ms, perSec: (done / ms) * 1000 });
} else {
  const latencies: number[] = [];
  let errors = 0;
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const scheduled = t0 + (i * 1000) / rate;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(client.call(PATH, template.frame()).then((s) => {
      if (s === 0) latencies.push(performance.now() - scheduled);
      else errors++;
    }));
  }
  await Promise.all(inflight);
  report({ rate, calls: latencies.length, errors, ...latencySummary(latencies) });
}
client.close();
