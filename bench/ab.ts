// A/B of compiled brokers under the same load: `node --import tsx bench/ab.ts <label>=<main.js> ...`
// runs each broker in turn (interleaved, `BENCH_AB_ROUNDS` rounds) through the ingest phases of
// `npm run bench -- --only=ingest` (PublishStream with one live subscriber, PublishBatch, unary
// Publish at saturation), with this tree's load generators, and prints the broker's CPU per event
// and the throughput of each phase, with the load average. CPU per event moves less with the
// machine's load than throughput does, which is what a bisection on a shared machine needs.
// A <main.js> is a `dist/server/src/main.js` built at any commit (`npm run build` there);
// `<label>=<main.js>::<node options>` gives that broker Node options of its own.
// BENCH_AB_PHASES=stream,batch,unary,fanout picks phases (fanout: 10 subscribers, ev/s there are
// deliveries/s); BENCH_AB_EVENTS the events per phase.
import { loadavg } from "node:os";
import type { BrokerProcess } from "../test/helpers/broker-process.js";
import { brokersOf, bundleLoads, load, median, removeTempDirs, run, withGc } from "./lib/harness.js";

const brokers = brokersOf(process.argv.slice(2));
const rounds = Number(process.env["BENCH_AB_ROUNDS"] ?? 3);
const events = Number(process.env["BENCH_AB_EVENTS"] ?? 40_000);
const phases = (process.env["BENCH_AB_PHASES"] ?? "stream,batch,unary").split(",");
const seconds = 4;

type Figure = { cpu: number; perSec: number; load: number };
const results = new Map<string, Figure[]>();
const add = (key: string, f: Figure) => results.set(key, [...(results.get(key) ?? []), f]);

async function measure(label: string, start: () => Promise<BrokerProcess>, round: number): Promise<void> {
  const b = await start();
  try {
    const source = `ab-${label}-${round}`;
    if (phases.includes("stream")) {
      const sub = load("subscribers", { address: b.address, subscribers: 1, expect: events, source, timeoutMs: 180_000 });
      await sub.ready;
      const s = await withGc(b, () => run("stream", { address: b.address, count: events, window: 5_000, source }));
      const lost = (await sub.result)["lost"] ?? 0;
      add(`${label}|stream`, { cpu: s.cpuUs / events, perSec: s.r["perSec"] ?? 0, load: loadavg()[0] ?? 0 });
      if (lost > 0) console.error(`${label}: subscriber lost ${lost}`);
    }
    if (phases.includes("batch")) {
      const bt = await withGc(b, () => run("batch", { address: b.address, count: events, batch: 500, concurrency: 4, source: `${source}-batch` }));
      add(`${label}|batch`, { cpu: bt.cpuUs / events, perSec: bt.r["perSec"] ?? 0, load: loadavg()[0] ?? 0 });
    }
    if (phases.includes("fanout")) {
      // 10 live subscribers in one load process, as the bench's fan-out row; CPU per event published.
      const subs = load("subscribers", { address: b.address, subscribers: 10, expect: events, source: `${source}-fan`, timeoutMs: 180_000 });
      await subs.ready;
      const f = await withGc(b, async () => {
        await run("stream", { address: b.address, count: events, window: 2_000, source: `${source}-fan` });
        return subs.result;
      });
      if ((f.r["lost"] ?? 0) > 0) console.error(`${label}: subscribers lost ${f.r["lost"]}`);
      add(`${label}|fanout`, { cpu: f.cpuUs / events, perSec: f.r["deliveriesPerSec"] ?? 0, load: loadavg()[0] ?? 0 });
    }
    if (phases.includes("unary")) {
      const u = await withGc(b, () => run("unary", { address: b.address, mode: "saturate", concurrency: 50, seconds, source: `${source}-unary` }));
      const calls = u.r["calls"] ?? 1;
      add(`${label}|unary`, { cpu: u.cpuUs / calls, perSec: u.r["perSec"] ?? 0, load: loadavg()[0] ?? 0 });
    }
  } finally {
    await b.stop();
  }
}

await bundleLoads();
try {
  for (let round = 0; round < rounds; round++) {
    for (const { label, start } of round % 2 === 0 ? brokers : [...brokers].reverse()) {
      await measure(label, start, round);
      const last = phases.map((p) => results.get(`${label}|${p}`)?.at(-1)).map((f, i) => `${phases[i]} ${f?.cpu.toFixed(0)} µs/ev ${f?.perSec.toFixed(0)}/s`);
      console.error(`round ${round} ${label}: ${last.join(", ")} (load ${loadavg()[0]?.toFixed(2)})`);
    }
  }
} finally {
  removeTempDirs();
}
console.log("| broker | phase | broker CPU µs/event, median (runs) | ev/s, median (runs) | load avg |");
console.log("|---|---|---|---|---|");
for (const { label } of brokers) {
  for (const phase of phases) {
    const f = results.get(`${label}|${phase}`) ?? [];
    const list = (k: keyof Figure, d: number) => f.map((x) => x[k].toFixed(d)).join(", ");
    console.log(`| ${label} | ${phase} | ${median(f.map((x) => x.cpu)).toFixed(0)} (${list("cpu", 0)}) | ${median(f.map((x) => x.perSec)).toFixed(0)} (${list("perSec", 0)}) | ${list("load", 1)} |`);
  }
}
