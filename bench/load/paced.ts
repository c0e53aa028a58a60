// Publishes at a fixed rate through the SDK's streaming publisher, stamping each event's `time`
// with its scheduled send time; reports publish-to-acknowledgement latency.
import { createBrokerClient } from "../../sdk/src/index.js";
import { benchEvent } from "../lib/events.js";
import { args, latencySummary, report } from "../lib/stats.js";

const { address, rate, count, source } = args<{ address: string; rate: number; count: number; source: string }>();
const client = createBrokerClient({ address, validate: false });
const pub = client.publisher({ window: 10_000 });
const latencies: number[] = [];
const t0 = performance.now();
const epoch = Date.now() - t0;
const acks: Promise<unknown>[] = [];
for (let i = 0; i < count; i++) {
  const scheduled = t0 + (i * 1000) / rate;
  const wait = scheduled - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  const e = benchEvent(source, i, Math.round(epoch + scheduled));
  acks.push(pub.publish(e).then(() => void latencies.push(performance.now() - scheduled)));
}
await Promise.all(acks);
await pub.close();
client.close();
report({ rate, events: count, ...latencySummary(latencies) });
