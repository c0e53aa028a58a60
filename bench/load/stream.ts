// Streaming ingest through the SDK's publisher: events/s until the last acknowledgement. Events
// are made as they are sent, as a producing service would, with at most `window` awaiting their
// acknowledgement.
import { createBrokerClient, type PublishResult } from "../../sdk/src/index.js";
import { benchEvent } from "../lib/events.js";
import { args, report } from "../lib/stats.js";

const { address, count, window, source, credentials } = args<{ address: string; count: number; window: number; source: string; credentials?: string }>();
const client = createBrokerClient({ address, validate: false, ...(credentials && { credentials }) });
const pub = client.publisher({ window });
let failed = 0;
// The acknowledgement of the event sent `window` events ago, awaited before its slot is reused.
const acks = new Array<Promise<PublishResult | void>>(window);
const t0 = performance.now();
for (let i = 0; i < count; i++) {
  const slot = i % window;
  if (acks[slot]) await acks[slot];
  acks[slot] = pub.publish(benchEvent(source, i)).catch(() => void failed++);
}
await Promise.all(acks);
const ms = performance.now() - t0;
await pub.close();
client.close();
report({ events: count, failed, ms, perSec: (count / ms) * 1000 });
