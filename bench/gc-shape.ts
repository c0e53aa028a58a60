// The broker's garbage collection under a steady unary load (issue 18). Starts each compiled broker
// given (default: this tree's, `npm run build` first) with `--trace-gc --trace-gc-nvp`, runs the
// bench's unary load open loop (after its 200-call burst, which is what can make V8 pretenure the
// call path) and prints, per broker, the medians over the rounds of: latency from the scheduled
// send, and the main thread's scavenges (pause, bytes allocated, survived and promoted between
// two scavenges) and mark-compacts. A call's objects should die young: a few tens of KiB survive a
// healthy scavenge; when calls outlive their call, every scavenge copies and promotes megabytes.
//
//   node --import tsx bench/gc-shape.ts [label=<main.js>[::<node options>] ...]
//   BENCH_GC_RATE (1000 calls/s), BENCH_GC_SECONDS (8), BENCH_GC_ROUNDS (3), interleaved
import { DIST_MAIN, type BrokerProcess } from "../test/helpers/broker-process.js";
import { mainThreadGcs, parseGcTrace } from "../test/helpers/gc-trace.js";
import { brokersOf, bundleLoads, median, removeTempDirs, run } from "./lib/harness.js";

const given = brokersOf(process.argv.slice(2));
const brokers = given.length > 0 ? given : brokersOf([`this=${DIST_MAIN}`]);
const rate = Number(process.env["BENCH_GC_RATE"] ?? 1000);
const seconds = Number(process.env["BENCH_GC_SECONDS"] ?? 8);
const rounds = Number(process.env["BENCH_GC_ROUNDS"] ?? 3);

type Figures = Record<"p50" | "p99" | "p999" | "scavenges" | "pause" | "maxPause" | "allocatedKiB" | "survivedKiB" | "promotedKiB" | "markCompacts" | "markCompactMs", number>;

async function measure(start: (nodeArgs: string[]) => Promise<BrokerProcess>): Promise<Figures> {
  const b = await start(["--trace-gc", "--trace-gc-nvp"]);
  let trace = "";
  // Only what comes after the start: the load's GCs.
  b.proc.stdout?.on("data", (d: Buffer) => (trace += d.toString()));
  try {
    const r = await run("unary", { address: b.address, mode: "rate", rate, seconds, warmupSeconds: 1, source: "gc-shape" });
    const gcs = mainThreadGcs(parseGcTrace(trace));
    const scavenges = gcs.filter((g) => g.kind === "s");
    const marks = gcs.filter((g) => g.kind === "mc");
    const kib = (xs: number[]) => median(xs) / 1024;
    return {
      p50: r["p50"] ?? NaN,
      p99: r["p99"] ?? NaN,
      p999: r["p999"] ?? NaN,
      scavenges: scavenges.length,
      pause: median(scavenges.map((g) => g.pause)),
      maxPause: scavenges.length === 0 ? Number.NaN : Math.max(...scavenges.map((g) => g.pause)),
      allocatedKiB: kib(scavenges.map((g) => g.allocated)),
      survivedKiB: kib(scavenges.map((g) => g.survived)),
      promotedKiB: kib(scavenges.map((g) => g.promoted)),
      markCompacts: marks.length,
      markCompactMs: marks.reduce((n, g) => n + g.pause, 0),
    };
  } finally {
    await b.stop();
  }
}

await bundleLoads();
const results = new Map<string, Figures[]>();
for (let round = 0; round < rounds; round++) {
  for (const { label, start } of brokers) {
    const f = await measure(start);
    results.set(label, [...(results.get(label) ?? []), f]);
    process.stderr.write(`# ${label} round ${round + 1}: p99 ${f.p99.toFixed(1)} ms, scavenge ${f.pause.toFixed(1)} ms, promoted ${f.promotedKiB.toFixed(0)} KiB per scavenge\n`);
  }
}
removeTempDirs();
const m = (fs: Figures[], k: keyof Figures, digits = 1) => median(fs.map((f) => f[k])).toFixed(digits);
console.log(`\nunary Publish at ${rate}/s for ${seconds} s, open loop; medians of ${rounds} rounds\n`);
console.log("| broker | p50 ms | p99 ms | p99.9 ms | scavenges | scavenge pause ms (median / max) | allocated KiB | survived KiB | promoted KiB | mark-compacts (ms in all) |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const [label, fs] of results) {
  console.log(`| ${label} | ${m(fs, "p50", 2)} | ${m(fs, "p99")} | ${m(fs, "p999")} | ${m(fs, "scavenges", 0)} | ${m(fs, "pause")} / ${m(fs, "maxPause")} | ${m(fs, "allocatedKiB", 0)} | ${m(fs, "survivedKiB", 0)} | ${m(fs, "promotedKiB", 0)} | ${m(fs, "markCompacts", 0)} (${m(fs, "markCompactMs", 0)}) |`);
}
