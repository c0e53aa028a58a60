// Tail latency of unary Publish at a modest rate, open loop, next to the disk's own tail and a
// bare grpc-js server's (the same client and load), both measured in the same run (issue 18):
// each latency row gives its ratio to the same run's fdatasync and echo percentiles, and the
// calls of the slowest 1% and 0.1% are broken down into stages by joining the load's per-call
// trace with the broker's commit trace (BROKER_COMMIT_TRACE).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { QUICK, median, rows, run, spawn_, spread, startEchoServer, tempDir, withGc } from "../lib/harness.js";
import { breakdownTable, joinTraces, tailBreakdown } from "../lib/breakdown.js";

/** Markdown breakdown tables of the run, printed after the table and kept in the results file. */
export const breakdowns: { title: string; table: string }[] = [];

const REPEATS = 3;
const RATES = [1_000, 5_000];
const SYNCS = ["full", "normal"] as const;
/**
 * A variant of the broker's Node options, measured at 1,000/s with `full` beside the default: a
 * young generation that starts at 16 MiB (V8 starts it at 1 MiB and grows it), so scavenges (the
 * GC pauses a publish may wait behind) come several times less often.
 */
const YOUNG = ["--min-semi-space-size=16", "--max-semi-space-size=64"];

type Percentiles = { p50: number; p99: number; p999: number };

const pick = (runs: Percentiles[], k: keyof Percentiles) => runs.map((r) => r[k]);

/** The disk's latency: `REPEATS` probes of a 4 KiB write + fdatasync in the broker's data directory's file system. */
async function disk(dir: string, mode: "overwrite" | "append"): Promise<Percentiles> {
  const r = await run("disk", { dir, seconds: QUICK ? 1 : 3, mode });
  return { p50: r["p50"] ?? NaN, p99: r["p99"] ?? NaN, p999: r["p999"] ?? NaN };
}

/**
 * The floor: the same client and open-loop load against a grpc-js server that answers at once, at
 * each rate, added to `floors`. A broker's tail can only approach the disk's where this floor is
 * below it; on a machine whose event loops and scheduler add milliseconds, this is the line to read.
 */
async function echoFloor(seconds: number, floors: Map<number, Percentiles[]>): Promise<void> {
  const echo = await startEchoServer();
  try {
    for (const rate of RATES) {
      const r = await run("unary", { address: echo.address, mode: "rate", rate, seconds, warmupSeconds: 1, source: "tail-echo", echo: true });
      floors.set(rate, [...(floors.get(rate) ?? []), { p50: r["p50"] ?? NaN, p99: r["p99"] ?? NaN, p999: r["p999"] ?? NaN }]);
    }
  } finally {
    echo.stop();
  }
}

export async function tail(): Promise<void> {
  // BENCH_TAIL_SECONDS: shorter phases when the bench window is short.
  const seconds = Number(process.env["BENCH_TAIL_SECONDS"] ?? (QUICK ? 2 : 8));
  const disks: Percentiles[] = [];
  const appends: Percentiles[] = [];
  const latencies = new Map<string, Percentiles[]>();
  const calls = new Map<string, ReturnType<typeof joinTraces>>();
  const gc = new Map<string, number[]>();
  const errors = new Map<string, number>();
  const floors = new Map<number, Percentiles[]>();
  const variants = [...SYNCS, "young"] as const;
  // Each round: the floor, the broker's variants (in a rotated order, so none always comes first),
  // then the disk, whose 3 s of fsyncs would otherwise leave write-back behind them for a broker.
  for (let rep = 0; rep < REPEATS; rep++) {
    const dir = tempDir();
    await echoFloor(seconds, floors);
    for (const variant of [...variants.slice(rep % variants.length), ...variants.slice(0, rep % variants.length)]) {
      const sync = variant === "young" ? "full" : variant;
      const brokerTrace = join(dir, `broker-${variant}.ndjson`);
      const b = await spawn_({ BROKER_SQLITE_SYNC: sync, BROKER_COMMIT_TRACE: brokerTrace }, join(dir, variant), variant === "young" ? YOUNG : []);
      const clientTraces: [string, string][] = [];
      try {
        for (const rate of variant === "young" ? [1_000] : RATES) {
          const key = `${variant}|${rate}`;
          const traceFile = join(dir, `client-${key.replace("|", "-")}.txt`);
          const l = await withGc(b, () => run("unary", { address: b.address, mode: "rate", rate, seconds, warmupSeconds: 1, source: `tail-${variant}`, traceFile }));
          errors.set(key, (errors.get(key) ?? 0) + (l.r["errors"] ?? 0));
          latencies.set(key, [...(latencies.get(key) ?? []), { p50: l.r["p50"] ?? NaN, p99: l.r["p99"] ?? NaN, p999: l.r["p999"] ?? NaN }]);
          gc.set(key, [...(gc.get(key) ?? []), l.gcMs]);
          clientTraces.push([key, traceFile]);
        }
      } finally {
        await b.stop();
      }
      const broker = readFileSync(brokerTrace, "utf8");
      for (const [key, file] of clientTraces) calls.set(key, [...(calls.get(key) ?? []), ...joinTraces(readFileSync(file, "utf8"), broker)]);
    }
    disks.push(await disk(dir, "overwrite"));
    if (rep === 0) appends.push(await disk(dir, "append"));
  }
  const floor = (rate: number) => ({ p99: median(pick(floors.get(rate) ?? [], "p99")), p999: median(pick(floors.get(rate) ?? [], "p999")) });
  for (const rate of RATES) {
    const runs = floors.get(rate) ?? [];
    rows.push({ section: "grpc-js echo (raw layer, same run): unary, open loop, the same client", metric: `${rate}/s: p99`, value: floor(rate).p99, runs: pick(runs, "p99"), unit: "ms", note: `p50 ${spread(pick(runs, "p50"))} ms, p99.9 ${spread(pick(runs, "p999"))} ms` });
  }
  const d = { p50: median(pick(disks, "p50")), p99: median(pick(disks, "p99")), p999: median(pick(disks, "p999")) };
  const section = "disk (raw layer, same run): 4 KiB write + fdatasync";
  rows.push({ section, metric: "in place (a WAL that starts over): p99", value: d.p99, runs: pick(disks, "p99"), unit: "ms", note: `p50 ${spread(pick(disks, "p50"))} ms, p99.9 ${spread(pick(disks, "p999"))} ms` });
  rows.push({ section, metric: "appended (a growing file): p99", value: appends[0]?.p99 ?? NaN, unit: "ms", note: `p50 ${appends[0]?.p50.toFixed(2)} ms, p99.9 ${appends[0]?.p999.toFixed(2)} ms; one probe` });
  for (const variant of [...SYNCS, "young"] as const) {
    const sync = variant === "young" ? "full" : variant;
    const sec = `unary Publish, open loop, from the scheduled send (BROKER_SQLITE_SYNC=${sync}${variant === "young" ? `; broker node ${YOUNG.join(" ")}` : ""})`;
    for (const rate of variant === "young" ? [1_000] : RATES) {
      const key = `${variant}|${rate}`;
      const runs = latencies.get(key) ?? [];
      const p99 = median(pick(runs, "p99"));
      const p999 = median(pick(runs, "p999"));
      const gcMs = median(gc.get(key) ?? []);
      const vsDisk = `${(p99 / d.p99).toFixed(1)}× disk p99, ${(p99 / floor(rate).p99).toFixed(1)}× echo p99; p99.9 ${(p999 / d.p999).toFixed(1)}× disk p99.9, ${(p999 / floor(rate).p999).toFixed(1)}× echo p99.9`;
      const target = sync === "full" && rate === 1_000 ? { op: "<=" as const, value: 3 * d.p99 } : sync === "normal" && rate === 1_000 ? { op: "<=" as const, value: 2 } : rate === 5_000 ? { op: "<=" as const, value: 10 } : undefined;
      rows.push({ section: sec, metric: `${rate}/s: p99`, value: p99, runs: pick(runs, "p99"), unit: "ms", ...(target && { target }), gcMs, note: `p50 ${spread(pick(runs, "p50"))} ms; ${vsDisk}; failed calls ${errors.get(key) ?? 0}` });
      rows.push({ section: sec, metric: `${rate}/s: p99.9`, value: p999, runs: pick(runs, "p999"), unit: "ms", ...(sync === "full" && rate === 1_000 && { target: { op: "<=" as const, value: 2 * d.p999 } }), note: `${(p999 / d.p999).toFixed(1)}× disk p99.9` });
      const all = calls.get(key) ?? [];
      breakdowns.push({
        title: `unary Publish at ${rate}/s, BROKER_SQLITE_SYNC=${sync}${variant === "young" ? ` (broker node ${YOUNG.join(" ")})` : ""}: the slowest calls of ${REPEATS} runs (${all.length} calls traced)`,
        table: breakdownTable([
          { title: "slowest 1% (≥ p99)", b: tailBreakdown(all, 99) },
          { title: "slowest 0.1% (≥ p99.9)", b: tailBreakdown(all, 99.9) },
          { title: "median call (p50–p51)", b: tailBreakdown(all.sort((a, b) => a.latency - b.latency).slice(0, Math.ceil(all.length * 0.51)), 98) },
        ]),
      });
    }
  }
}
