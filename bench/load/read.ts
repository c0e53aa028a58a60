// Reads: "replay" streams every event (events/s); "query" asks for the newest 100 of one type, one
// call after the other (latency).
import { createBrokerClient } from "../../sdk/src/index.js";
import { args, latencySummary, report } from "../lib/stats.js";

const { address, mode, calls = 1000 } = args<{ address: string; mode: "replay" | "query"; calls?: number }>();
const client = createBrokerClient({ address });
if (mode === "replay") {
  let n = 0;
  const t0 = performance.now();
  for await (const _ of client.replay()) n++;
  const ms = performance.now() - t0;
  report({ events: n, ms, perSec: (n / ms) * 1000 });
} else {
  const latencies: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    const page = await client.queryPage({ types: ["like.added"] }, { pageSize: 100, newestFirst: true });
    latencies.push(performance.now() - t);
    if (page.events.length !== 100) throw new Error(`expected 100 events, got ${page.events.length}`);
  }
  report({ calls, ...latencySummary(latencies) });
}
client.close();
