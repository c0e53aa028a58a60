// Publishes at a fixed rate through the SDK's streaming publisher, stamping each event's `time`
// with its scheduled send time; reports publish-to-acknowledgement latency. The first `warmup`
// events (same rate, same stream) are not counted: they open the connection and warm up the JIT
// on both sides, which otherwise made the first 250 ms the whole p99.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createBrokerClient } from "../../sdk/src/index.js";
import { benchEvent } from "../lib/events.js";
import { args, latencySummary, report } from "../lib/stats.js";

const { address, rate, count, warmup = 0, source } = args<{ address: string; rate: number; count: number; warmup?: number; source: string }>();
const client = createBrokerClient({ address, validate: false });
const pub = client.publisher({ window: 10_000 });
const latencies: number[] = [];
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
const t0 = performance.now();
// Event times carry the scheduled send time with sub-millisecond precision, on the clock that
// subscriber processes read too (performance.timeOrigin + now).
const epoch = performance.timeOrigin;
const acks: Promise<unknown>[] = [];
for (let i = 0; i < warmup + count; i++) {
  const scheduled = t0 + (i * 1000) / rate;
  const wait = scheduled - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  if (i === warmup) loopDelay.enable();
  const e = benchEvent(source, i, epoch + scheduled);
  const ack = pub.publish(e);
  acks.push(i < warmup ? ack : ack.then(() => void latencies.push(performance.now() - scheduled)));
}
await Promise.all(acks);
await pub.close();
client.close();
loopDelay.disable();
// The generator's own event-loop delay: a stall here shows in the latencies too (open loop).
report({ rate, events: count, ...latencySummary(latencies), loopDelayP99: loopDelay.percentile(99) / 1e6, loopDelayMax: loopDelay.max / 1e6 });
