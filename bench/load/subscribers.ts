// `subscribers` live subscriptions through the SDK. Each expects `expect` events from `source`;
// reports deliveries/s (first to last delivery), losses, and publish-to-delivery latency from the
// event's `time` (set by the publisher when it sent the event), leaving out each subscriber's
// first `skip` events (the publisher's warm-up).
import { setMaxListeners } from "node:events";
import { createBrokerClient } from "../../sdk/src/index.js";
import { args, latencySummary, report } from "../lib/stats.js";

// With `whereEach`, subscriber s filters with its own expression (true for every bench event).
const { address, subscribers, expect, skip = 0, source, timeoutMs, whereEach = false, offset = 0 } = args<{ address: string; subscribers: number; expect: number; skip?: number; source: string; timeoutMs: number; whereEach?: boolean; offset?: number }>();
const clients = Array.from({ length: Math.min(subscribers, 8) }, () => createBrokerClient({ address }));
const latencies: number[] = [];
let first = 0;
let last = 0;
let delivered = 0;
const counts = new Array<number>(subscribers).fill(0);
const ac = new AbortController();
setMaxListeners(subscribers + 10, ac.signal); // one listener per subscription on the shared signal
let ready = 0;
const done = Promise.all(Array.from({ length: subscribers }, async (_, s) => {
  const client = clients[s % clients.length]!;
  const filter = whereEach ? { sources: [source], where: `event.comment_created.user_id != "nobody-${offset + s}"` } : { sources: [source] };
  for await (const e of client.subscribe(filter, { signal: ac.signal, onCaughtUp: () => ++ready === subscribers && process.stdout.write("READY\n") })) {
    const now = performance.timeOrigin + performance.now();
    if (first === 0) first = performance.now();
    last = performance.now();
    delivered++;
    if (e.time && counts[s]! >= skip && s % Math.max(1, Math.floor(subscribers / 10)) === 0) latencies.push(now - (Number(e.time.seconds) * 1000 + e.time.nanos / 1e6));
    if (++counts[s]! >= expect) break;
  }
}));
const timer = setTimeout(() => ac.abort(), timeoutMs);
await done.catch(() => undefined);
clearTimeout(timer);
for (const c of clients) c.close();
const ms = last - first;
// firstAt/lastAt (epoch ms) let the orchestrator combine processes that share a fan-out.
const epoch = (t: number) => performance.timeOrigin + t;
report({ subscribers, delivered, expected: subscribers * expect, lost: subscribers * expect - delivered, ms, deliveriesPerSec: ms > 0 ? (delivered / ms) * 1000 : 0, firstAt: epoch(first), lastAt: epoch(last), ...latencySummary(latencies) });
