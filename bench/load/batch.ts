// PublishBatch ingest through the SDK: batches of `batch` events, `concurrency` batches in flight.
import { createBrokerClient } from "../../sdk/src/index.js";
import { benchEvent } from "../lib/events.js";
import { args, report } from "../lib/stats.js";

const { address, count, batch, concurrency, source, credentials } = args<{ address: string; count: number; batch: number; concurrency: number; source: string; credentials?: string }>();
const client = createBrokerClient({ address, validate: false, ...(credentials && { credentials }) });
const batches = Array.from({ length: Math.ceil(count / batch) }, (_, b) => Array.from({ length: Math.min(batch, count - b * batch) }, (_, i) => benchEvent(source, b * batch + i)));
let next = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < batches.length) await client.publishBatch(batches[next++] ?? []);
}));
const ms = performance.now() - t0;
client.close();
report({ events: count, ms, perSec: (count / ms) * 1000 });
