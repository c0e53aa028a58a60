// Peers on NATS: core publish to a subscriber on another connection (msgs/s, all received), and
// JetStream publish with acknowledgements, pipelined (acks/s).
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { args, report } from "../lib/stats.js";

const { url, mode, count } = args<{ url: string; mode: "core" | "jetstream"; count: number }>();
const payload = new Uint8Array(500).fill(7);
const nc = await connect({ servers: url });
if (mode === "core") {
  const sub = await connect({ servers: url });
  let got = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  sub.subscribe("peer.core", {
    callback: () => {
      if (++got === count) resolveAll();
    },
  });
  await sub.flush();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    nc.publish("peer.core", payload);
    if (i % 10_000 === 0) await nc.flush();
  }
  // Core NATS drops for slow consumers: stop waiting once nothing more arrives.
  for (let seen = -1; got < count && got !== seen; ) {
    seen = got;
    await Promise.race([all, new Promise((r) => setTimeout(r, 1_000))]);
  }
  const ms = performance.now() - t0;
  report({ mode, sent: count, received: got, ms, perSec: (got / ms) * 1000 });
  await sub.close();
} else {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "PEER", subjects: ["peer.js"] }).catch(() => undefined);
  const js = jetstream(nc);
  const window = 2_000;
  const inflight = new Set<Promise<unknown>>();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const p = js.publish("peer.js", payload).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const ms = performance.now() - t0;
  report({ mode, acked: count, ms, perSec: (count / ms) * 1000 });
  await jsm.streams.delete("PEER");
}
await nc.close();
