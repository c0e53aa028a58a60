// npm run bench [-- --quick] [-- --write]: the broker as a child process, driven by separate
// load-generator processes, next to the raw layers it sits on, measured in the same run.
// Prints one table, writes bench/results/<date>.json, and with --write updates BENCHMARKS.md.
import { execFileSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { startNatsServer, type NatsServer } from "../test/helpers/nats-server.js";
import { openSqliteStore } from "../server/src/store/sqlite/sqlite-store.js";
import { prepareEvent } from "../server/src/services/prepare-event.js";
import { createBrokerClient, newEvent, newEventId, TargetType } from "../sdk/src/index.js";
import { benchEvent } from "./lib/events.js";
import { BROKER_MAIN, ONLY, QUICK, SIZE, WRITE, broker, bundleLoads, fmt, load, loadAverage, removeTempDirs, rows, run, scrape, spread, startEchoServer, stopShared, tempDir, withGc, type Row } from "./lib/harness.js";
import { tracing, auth } from "./scenarios/overhead.js";
import { breakdowns, tail } from "./scenarios/tail.js";
import { durability } from "./scenarios/durability.js";
// ---- scenarios ------------------------------------------------------------------------------

async function peers(nats: NatsServer): Promise<Record<string, number>> {
  const echo = await startEchoServer();
  const { address } = echo;
  const echoUnary = await run("peer-echo", { mode: "unary", address, concurrency: 50, seconds: SIZE.seconds });
  const echoStream = await run("peer-echo", { mode: "stream", address, count: SIZE.peers });
  echo.stop();
  const core = await run("peer-nats", { url: nats.url, mode: "core", count: SIZE.peers * 4 });
  const js = await run("peer-nats", { url: nats.url, mode: "jetstream", count: SIZE.peers / 2 });
  const sqlite = await run("peer-sqlite", { count: SIZE.peers, batch: 1_000, sync: "full" });
  const p = { echoUnary: echoUnary["perSec"] ?? 0, echoStream: echoStream["perSec"] ?? 0, natsCore: core["perSec"] ?? 0, jetstream: js["perSec"] ?? 0, sqliteInsert: sqlite["insertPerSec"] ?? 0, sqliteRead: sqlite["readPerSec"] ?? 0 };
  const section = "peers (raw layers, same run)";
  rows.push({ section, metric: "grpc-js echo, unary, 50 callers (thin client)", value: p.echoUnary, unit: "calls/s" });
  rows.push({ section, metric: "grpc-js echo, bidi stream, 500 B", value: p.echoStream, unit: "msgs/s" });
  rows.push({ section, metric: "NATS core publish → subscriber, 500 B", value: p.natsCore, unit: "msgs/s" });
  rows.push({ section, metric: "JetStream publish-ack, pipelined, 500 B", value: p.jetstream, unit: "acks/s" });
  rows.push({ section, metric: "SQLite batched insert (1,000/tx, FULL, store schema)", value: p.sqliteInsert, unit: "rows/s" });
  rows.push({ section, metric: "SQLite read in position order", value: p.sqliteRead, unit: "rows/s" });
  return p;
}

async function ingest(p: Record<string, number>, mode: "embedded" | "nats", nats: NatsServer): Promise<void> {
  const section = `ingest (${mode})`;
  const b = await broker(mode === "nats" ? { BROKER_NATS_URL: nats.url } : {});
  try {
    const source = `ingest-${mode}`;
    const sub = load("subscribers", { address: b.address, subscribers: 1, expect: SIZE.stream, source, timeoutMs: 120_000 });
    await sub.ready;
    const s = await withGc(b, () => run("stream", { address: b.address, count: SIZE.stream, window: 5_000, source }));
    const subResult = await sub.result;
    rows.push({ section, metric: "PublishStream with 1 live subscriber", value: s.r["perSec"] ?? 0, unit: "ev/s", target: { op: ">=", value: 25_000 }, peer: { name: "SQLite insert", value: p["sqliteInsert"] ?? 0 }, gcMs: s.gcMs, note: `subscriber lost ${subResult["lost"]}; broker CPU ${(s.cpuUs / SIZE.stream).toFixed(0)} µs/event` });
    const bt = await withGc(b, () => run("batch", { address: b.address, count: SIZE.batch, batch: 500, concurrency: 4, source: `${source}-batch` }));
    rows.push({ section, metric: "PublishBatch (500 per batch, 4 in flight)", value: bt.r["perSec"] ?? 0, unit: "ev/s", peer: { name: "SQLite insert", value: p["sqliteInsert"] ?? 0 }, gcMs: bt.gcMs });
    if (mode === "embedded") {
      const u = await withGc(b, () => run("unary", { address: b.address, mode: "saturate", concurrency: 50, seconds: SIZE.seconds, source: `${source}-unary` }));
      rows.push({ section, metric: "unary Publish, 50 callers, saturation", value: u.r["perSec"] ?? 0, unit: "ev/s", target: { op: ">=", value: 12_000 }, peer: { name: "grpc echo", value: p["echoUnary"] ?? 0 }, gcMs: u.gcMs });
      for (const rate of [1_000, 5_000]) {
        const l = await withGc(b, () => run("unary", { address: b.address, mode: "rate", rate, seconds: SIZE.seconds, source: `${source}-rate` }));
        rows.push({ section, metric: `unary Publish at ${rate}/s: p50 / p99 / p99.9`, value: l.r["p99"] ?? 0, unit: "ms p99", gcMs: l.gcMs, note: `p50 ${l.r["p50"]?.toFixed(2)} ms, p99.9 ${l.r["p999"]?.toFixed(2)} ms, errors ${l.r["errors"]}` });
      }
    }
  } finally {
    await b.stop();
  }
}

/**
 * NATS mode with a consumer group defined: the broker then mirrors the log into a JetStream stream
 * (a publish-ack per event) besides storing it. The group matches nothing, so what is measured is
 * the mirror, not a consumer.
 */
async function mirrored(p: Record<string, number>, nats: NatsServer): Promise<void> {
  const section = "ingest (nats)";
  const b = await broker({ BROKER_NATS_URL: nats.url, BROKER_SUBJECT_PREFIX: "mirrored" });
  try {
    const client = createBrokerClient({ address: b.address });
    await client.groups.create({ name: "bench-mirror", filter: { sources: ["no-such-source"] }, start: "now" });
    client.close();
    const source = "ingest-mirrored";
    const s = await withGc(b, () => run("stream", { address: b.address, count: SIZE.stream, window: 5_000, source }));
    rows.push({ section, metric: "PublishStream with a consumer group (log mirrored to JetStream)", value: s.r["perSec"] ?? 0, unit: "ev/s", peer: { name: "JetStream publish-ack", value: p["jetstream"] ?? 0 }, gcMs: s.gcMs, note: `broker CPU ${(s.cpuUs / SIZE.stream).toFixed(0)} µs/event` });
  } finally {
    await b.stop();
  }
}

async function latency(mode: "embedded" | "nats", nats: NatsServer): Promise<void> {
  const section = `latency at 2,000 ev/s, 10 subscribers (${mode})`;
  const b = await broker(mode === "nats" ? { BROKER_NATS_URL: nats.url } : {});
  try {
    const source = `paced-${mode}`;
    const count = 2_000 * SIZE.paced;
    const warmup = 2_000; // one second at the same rate, not counted
    const subs = load("subscribers", { address: b.address, subscribers: 10, expect: warmup + count, skip: warmup, source, timeoutMs: 120_000 });
    await subs.ready;
    const r = await withGc(b, () => run("paced", { address: b.address, rate: 2_000, count, warmup, source }));
    const s = await subs.result;
    rows.push({ section, metric: "publish → ack", value: r.r["p99"] ?? 0, unit: "ms p99", target: { op: "<=", value: 5 }, gcMs: r.gcMs, note: `p50 ${r.r["p50"]?.toFixed(2)} ms, p99.9 ${r.r["p999"]?.toFixed(2)} ms` });
    rows.push({ section, metric: "publish → subscriber", value: s["p99"] ?? 0, unit: "ms p99", target: { op: "<=", value: 5 }, gcMs: r.gcMs, note: `p50 ${s["p50"]?.toFixed(2)} ms, lost ${s["lost"]}` });
  } finally {
    await b.stop();
  }
}

/** One result for subscribers spread over several processes: deliveries/s from the first to the last delivery. */
function combineSubscribers(results: Record<string, number>[]): Record<string, number> {
  const sum = (k: string) => results.reduce((a, r) => a + (r[k] ?? 0), 0);
  const ms = Math.max(...results.map((r) => r["lastAt"] ?? 0)) - Math.min(...results.map((r) => r["firstAt"] ?? 0));
  return { delivered: sum("delivered"), expected: sum("expected"), lost: sum("lost"), deliveriesPerSec: ms > 0 ? (sum("delivered") / ms) * 1000 : 0 };
}

async function fanout(p: Record<string, number>, mode: "embedded" | "nats", nats: NatsServer): Promise<void> {
  const section = `fan-out (${mode})`;
  const b = await broker(mode === "nats" ? { BROKER_NATS_URL: nats.url } : {});
  try {
    for (const [i, subscribers] of [1, 10, 100].entries()) {
      if (mode === "nats" && subscribers !== 10) continue;
      const count = SIZE.fanout[i] ?? 1_000;
      const source = `fan-${mode}-${subscribers}`;
      // One Node process decoding through the SDK tops out near 140 k deliveries/s (~7 µs each), so
      // 100 subscribers are spread over two load processes, as services would be.
      const processes = subscribers >= 100 ? 2 : 1;
      const subs = Array.from({ length: processes }, () => load("subscribers", { address: b.address, subscribers: subscribers / processes, expect: count, source, timeoutMs: 180_000 }));
      await Promise.all(subs.map((s) => s.ready));
      const r = await withGc(b, async () => {
        await run("stream", { address: b.address, count, window: 2_000, source });
        return combineSubscribers(await Promise.all(subs.map((s) => s.result)));
      });
      rows.push({ section, metric: `${subscribers} subscriber(s): deliveries`, value: r.r["deliveriesPerSec"] ?? 0, unit: "deliveries/s", ...(subscribers === 100 ? { target: { op: ">=" as const, value: 150_000 } } : {}), peer: { name: "NATS core", value: p["natsCore"] ?? 0 }, gcMs: r.gcMs, note: `lost ${r.r["lost"]} of ${r.r["expected"]}` });
    }
  } finally {
    await b.stop();
  }
}

/** Fills a store directly (the append path without gRPC), to measure reads over many events. */
async function preload(dataDir: string, count: number, hitEvery = 0): Promise<void> {
  const store = await openSqliteStore({ dataDir, sync: "normal", log: pino({ level: "silent" }) });
  const like = newEvent("like.added", { userId: "u", targetType: TargetType.BOOK, targetId: "b" }, { source: "preload" });
  const comment = benchEvent("preload");
  // With hitEvery, one comment in hitEvery has another target: what a `where` bench looks for.
  const hit = benchEvent("preload");
  if (hit.payload.case === "commentCreated") hit.payload.value.targetId = "b-hit";
  for (let done = 0; done < count; ) {
    const group = [];
    for (let i = 0; i < 4_096 && done < count; i++, done++) {
      const e = done % 10 === 0 ? like : hitEvery > 0 && done % hitEvery === 1 ? hit : comment;
      e.id = newEventId();
      group.push(prepareEvent(e, { maxEventBytes: 1 << 20 }));
    }
    await store.append([group]);
  }
  await store.close();
}

async function reads(p: Record<string, number>): Promise<void> {
  const section = `reads with ${SIZE.stored.toLocaleString("en")} events stored`;
  const dataDir = tempDir();
  await preload(dataDir, SIZE.stored);
  const b = await broker({}, dataDir);
  try {
    const q = await withGc(b, () => run("read", { address: b.address, mode: "query", calls: SIZE.queries }));
    rows.push({ section, metric: "QueryEvents newest 100 of a type", value: q.r["p99"] ?? 0, unit: "ms p99", target: { op: "<=", value: 5 }, gcMs: q.gcMs, note: `p50 ${q.r["p50"]?.toFixed(2)} ms` });
    const qt = await withGc(b, () => run("read", { address: b.address, mode: "query-thin", calls: SIZE.queries }));
    rows.push({ section, metric: "the same, thin client (no decoding: the broker's part)", value: qt.r["p99"] ?? 0, unit: "ms p99", gcMs: qt.gcMs, note: `p50 ${qt.r["p50"]?.toFixed(2)} ms` });
    const r = await withGc(b, () => run("read", { address: b.address, mode: "replay" }));
    rows.push({ section, metric: "Replay to one client", value: r.r["perSec"] ?? 0, unit: "ev/s", target: { op: ">=", value: 100_000 }, peer: { name: "SQLite read", value: p["sqliteRead"] ?? 0 }, gcMs: r.gcMs });
  } finally {
    await b.stop();
  }
  const files = ["events.db", "events.db-wal"].map((f) => join(dataDir, f)).filter((f) => existsSync(f));
  const bytes = files.reduce((s, f) => s + statSync(f).size, 0);
  rows.push({ section, metric: "bytes per stored event (≈500-byte events, all indexes)", value: bytes / SIZE.stored, unit: "bytes" });
}

/** `where` (issue 17): a selective Replay over many events, and 100 subscribers with 100 expressions. */
async function where(): Promise<void> {
  // BENCH_WHERE_EVENTS: a smaller store when the full million does not fit in the time there is.
  const stored = Number(process.env["BENCH_WHERE_EVENTS"] ?? SIZE.stored);
  const section = `where filters (${stored.toLocaleString("en")} events stored)`;
  const dataDir = tempDir();
  await preload(dataDir, stored, 100);
  const b = await broker({}, dataDir);
  try {
    const r = await withGc(b, () => run("read", { address: b.address, mode: "replay", where: 'event.comment_created.target_id == "b-hit"' }));
    const ms = r.r["ms"] ?? NaN;
    rows.push({ section, metric: "Replay with a where matching 1%: events scanned", value: (stored / ms) * 1000, unit: "ev/s", target: { op: ">=", value: 200_000 }, gcMs: r.gcMs, note: `${r.r["events"]} matches in ${(ms / 1000).toFixed(1)} s` });
    const count = SIZE.fanout[2] ?? 1_000;
    const source = "where-fan";
    const subs = [0, 50].map((offset) => load("subscribers", { address: b.address, subscribers: 50, expect: count, source, timeoutMs: 180_000, whereEach: true, offset }));
    await Promise.all(subs.map((s) => s.ready));
    const f = await withGc(b, async () => {
      await run("stream", { address: b.address, count, window: 2_000, source });
      return combineSubscribers(await Promise.all(subs.map((s) => s.result)));
    });
    rows.push({ section, metric: "100 subscribers, 100 different expressions: deliveries", value: f.r["deliveriesPerSec"] ?? 0, unit: "deliveries/s", gcMs: f.gcMs, note: `broker CPU ${(f.cpuUs / count).toFixed(0)} µs per event (${(f.cpuUs / count / 100).toFixed(1)} per delivery); lost ${f.r["lost"]} of ${f.r["expected"]}` });
  } finally {
    await b.stop();
  }
}

async function idle(): Promise<void> {
  const b = await broker();
  try {
    const base = await scrape(b);
    const handle = load("idle", { address: b.address, count: SIZE.idle });
    handle.result.catch(() => undefined); // it is killed, not finished
    await handle.ready;
    await new Promise((r) => setTimeout(r, 1_000));
    const after = await scrape(b);
    handle.kill();
    rows.push({ section: "memory", metric: `broker RSS with ${SIZE.idle.toLocaleString("en")} idle subscribers`, value: after.rssBytes / 2 ** 20, unit: "MiB", target: { op: "<=", value: 300 }, note: `${((after.rssBytes - base.rssBytes) / SIZE.idle / 1024).toFixed(1)} KiB per subscriber over an idle broker (${(base.rssBytes / 2 ** 20).toFixed(0)} MiB)` });
  } finally {
    await b.stop();
  }
}

// ---- output ---------------------------------------------------------------------------------


function met(r: Row): string {
  if (!r.target) return "";
  return (r.target.op === ">=" ? r.value >= r.target.value : r.value <= r.target.value) ? "met" : "**missed**";
}

function table(): string {
  const lines = ["| section | metric | broker | target | | raw peer | broker/peer | broker GC pause | load avg | notes |", "|---|---|---|---|---|---|---|---|---|---|"];
  for (const r of rows) {
    const value = r.runs && r.runs.length > 1 ? `${spread(r.runs)}` : fmt(r.value);
    const target = r.target ? `${r.target.op} ${fmt(r.target.value)}` : "";
    const peer = r.peer ? `${r.peer.name}: ${fmt(r.peer.value)}` : "";
    const ratio = r.peer && r.peer.value > 0 ? `${((r.value / r.peer.value) * 100).toFixed(0)}%` : "";
    const gc = r.gcMs === undefined ? "" : `${r.gcMs.toFixed(0)} ms`;
    lines.push(`| ${r.section} | ${r.metric} | ${value} ${r.unit} | ${target} | ${met(r)} | ${peer} | ${ratio} | ${gc} | ${r.load ?? ""} | ${r.note ?? ""} |`);
  }
  return lines.join("\n");
}

function machine(): Record<string, string> {
  const natsVersion = (() => {
    try {
      return execFileSync("/usr/sbin/nats-server", ["--version"]).toString().trim();
    } catch {
      return "unknown";
    }
  })();
  return { cpu: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`, memory: `${Math.round(totalmem() / 2 ** 30)} GiB`, node: process.version, nats: natsVersion, mode: QUICK ? "quick" : "full", broker: BROKER_MAIN };
}

const SCENARIOS = ["peers", "ingest", "latency", "fanout", "reads", "idle", "where", "tail", "durability", "auth", "tracing", "nats"];

async function main(): Promise<void> {
  const started = Date.now();
  if (process.argv.includes("--help")) {
    console.log(`npm run bench [-- --quick] [-- --write] [-- --only=${SCENARIOS.join(",")}]\n--only takes one scenario or a comma-separated list ("peers" always runs)`);
    return;
  }
  await bundleLoads();
  // The broker runs compiled, as in production (npm run build; the Docker image).
  execFileSync("npm", ["run", "-s", "build"], { stdio: "inherit" });
  const nats = await startNatsServer();
  try {
    const scenarios: [string, () => Promise<unknown>][] = [];
    let p: Record<string, number> = {};
    scenarios.push(["peers", async () => (p = await peers(nats))]);
    scenarios.push(["ingest", () => ingest(p, "embedded", nats)]);
    scenarios.push(["latency", () => latency("embedded", nats)]);
    scenarios.push(["fanout", () => fanout(p, "embedded", nats)]);
    scenarios.push(["reads", () => reads(p)]);
    scenarios.push(["idle", () => idle()]);
    scenarios.push(["where", () => where()]);
    scenarios.push(["tail", () => tail()]);
    scenarios.push(["durability", () => durability(nats)]);
    scenarios.push(["auth", () => auth()]);
    scenarios.push(["tracing", () => tracing()]);
    scenarios.push(["nats", async () => {
      await ingest(p, "nats", nats);
      await mirrored(p, nats);
      if (QUICK) return; // the quick run keeps two NATS-mode figures
      await latency("nats", nats);
      await fanout(p, "nats", nats);
    }]);
    for (const [name, scenario] of scenarios) {
      if (ONLY && !ONLY.split(",").includes(name) && name !== "peers") continue;
      const t0 = Date.now();
      const first = rows.length;
      process.stderr.write(`# ${name}: load average ${loadAverage()}\n`);
      await scenario();
      // The load average next to each figure: the machine is shared.
      for (const r of rows.slice(first)) r.load ??= loadAverage().split(" ")[0] ?? "";
      process.stderr.write(`# ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s, load average ${loadAverage()}\n`);
    }
  } finally {
    await stopShared();
    await nats[Symbol.asyncDispose]();
    removeTempDirs();
  }
  const date = new Date().toISOString();
  const info: Record<string, string> = { ...machine(), date, seconds: ((Date.now() - started) / 1000).toFixed(0) };
  const out = table();
  console.log(`\nmachine: ${info.cpu}, ${info.memory}, Node ${info.node}, ${info.nats}; ${info.mode} run, ${info.seconds} s\n`);
  console.log(out);
  for (const b of breakdowns) console.log(`\n${b.title}\n\n${b.table}`);
  const file = join(new URL("./results/", import.meta.url).pathname, `${date.replace(/[:.]/g, "-")}${QUICK ? "-quick" : ""}.json`);
  writeFileSync(file, `${JSON.stringify({ machine: info, rows, breakdowns }, null, 2)}\n`);
  console.log(`\nwritten: ${file}`);
  if (WRITE !== undefined) {
    const name = WRITE === "" ? "" : `${WRITE}:`;
    const [start, end] = [`<!-- bench:${name}start -->`, `<!-- bench:${name}end -->`];
    const md = readFileSync("BENCHMARKS.md", "utf8");
    const from = md.indexOf(start);
    const to = md.indexOf(end);
    if (from < 0 || to < from) throw new Error(`BENCHMARKS.md has no ${start} … ${end} block`);
    const extra = breakdowns.map((b) => `\n\n${b.title}:\n\n${b.table}`).join("");
    const block = `${start}\nMachine: ${info.cpu}, ${info.memory}, Node ${info.node}, ${info.nats}. ${info.mode} run on ${date.slice(0, 10)}, ${info.seconds} s; \`${file.slice(file.indexOf("bench/results/"))}\`.\n\n${out}${extra}\n${end}`;
    writeFileSync("BENCHMARKS.md", md.slice(0, from) + block + md.slice(to + end.length));
    console.log("BENCHMARKS.md updated");
  }

}

await main();
