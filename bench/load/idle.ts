// Opens `count` idle subscriptions (a filter nothing matches) and holds them until killed.
import { createBrokerClient } from "../../sdk/src/index.js";
import { args } from "../lib/stats.js";

const { address, count } = args<{ address: string; count: number }>();
const clients = Array.from({ length: 4 }, () => createBrokerClient({ address }));
let ready = 0;
for (let i = 0; i < count; i++) {
  const client = clients[i % clients.length]!;
  void (async () => {
    for await (const _ of client.subscribe({ sources: ["nobody"] }, { onCaughtUp: () => ++ready === count && process.stdout.write("READY\n") })) void _;
  })().catch(() => undefined);
}
setInterval(() => undefined, 60_000);
