// Streaming ingest through the SDK's publisher: events/s until the last acknowledgement.
import { createBrokerClient } from "../../sdk/src/index.js";
import { benchEvent } from "../lib/events.js";
import { args, report } from "../lib/stats.js";

const { address, count, window, source } = args<{ address: string; count: number; window: number; source: string }>();
const client = createBrokerClient({ address, validate: false });
const events = Array.from({ length: count }, (_, i) => benchEvent(source, i));
const pub = client.publisher({ window });
const t0 = performance.now();
let failed = 0;
await Promise.all(events.map((e) => pub.publish(e).catch(() => failed++)));
const ms = performance.now() - t0;
await pub.close();
client.close();
report({ events: count, failed, ms, perSec: (count / ms) * 1000 });
