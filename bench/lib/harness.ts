// The bench's harness: its options, the broker and load-generator processes, and the result rows.
import { spawn } from "node:child_process";
import { loadavg, tmpdir } from "node:os";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { DIST_MAIN, spawnBroker, type BrokerProcess } from "../../test/helpers/broker-process.js";

export const QUICK = process.argv.includes("--quick");
/**
 * --write replaces the table between `<!-- bench:start -->` and `<!-- bench:end -->` in
 * BENCHMARKS.md; --write=<name>, the block between `<!-- bench:<name>:start -->` and its end (for
 * a section of some scenarios, e.g. `--only=tail --write=tail`).
 */
export const WRITE = process.argv.find((a) => a === "--write" || a.startsWith("--write="))?.slice(8);
export const ONLY = process.argv.find((a) => a.startsWith("--only="))?.slice(7);
export const LOAD_SRC = new URL("../load/", import.meta.url).pathname;
// Extra Node options for the broker and for load generators, e.g. to profile a phase:
// BENCH_BROKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- --only=reads
const nodeArgs = (name: string): string[] => (process.env[name] ?? "").split(" ").filter((a) => a !== "");
export const BROKER_NODE_ARGS = nodeArgs("BENCH_BROKER_NODE_ARGS");
export const LOAD_NODE_ARGS = nodeArgs("BENCH_LOAD_NODE_ARGS");
/**
 * The broker to measure: this tree's compiled one, or (BENCH_BROKER_MAIN) a `dist/server/src/main.js`
 * built at another commit, for a before/after under the same load generators, e.g.
 * BENCH_BROKER_MAIN=../old/dist/server/src/main.js npm run bench -- --only=ingest,fanout
 */
export const BROKER_MAIN = process.env["BENCH_BROKER_MAIN"] ?? DIST_MAIN;
// Load generators are bundled once into plain JavaScript: starting each through tsx costs a second
// or more, which a quick run pays dozens of times.
export const LOAD_DIR = new URL("../.build/", import.meta.url).pathname;

/** Sizes of each scenario: full, and --quick (under a minute in all). */
export const SIZE = QUICK
  ? { seconds: 1.5, stream: 15_000, batch: 15_000, fanout: [5_000, 1_500, 300], stored: 50_000, queries: 200, idle: 1_000, paced: 2, peers: 30_000 }
  : { seconds: 8, stream: 150_000, batch: 150_000, fanout: [40_000, 15_000, 3_000], stored: 1_000_000, queries: 2_000, idle: 1_000, paced: 10, peers: 300_000 };

export interface Row {
  section: string;
  metric: string;
  value: number;
  unit: string;
  target?: { op: ">=" | "<="; value: number };
  peer?: { name: string; value: number };
  /** Broker GC pause during the phase, ms. */
  gcMs?: number;
  note?: string;
  /** Every run's value when the scenario ran more than once; `value` is then their median. */
  runs?: number[];
  /** The 1-minute load average when the row's scenario ended. */
  load?: string;
}
export const rows: Row[] = [];

// ---- processes ------------------------------------------------------------------------------

export interface LoadHandle {
  /** Resolves with the load's JSON result (its last line). */
  result: Promise<Record<string, number>>;
  /** Resolves when the load printed READY (subscribers attached). */
  ready: Promise<void>;
  kill(): void;
}

export async function bundleLoads(): Promise<void> {
  const { build } = await import("esbuild");
  const scripts = ["stream", "batch", "unary", "subscribers", "paced", "read", "idle", "peer-nats", "peer-sqlite", "peer-echo", "disk", "store"];
  await build({
    entryPoints: scripts.map((s) => join(LOAD_SRC, `${s}.ts`)),
    outdir: LOAD_DIR,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["better-sqlite3"],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: "warning",
  });
}

export function load(script: string, params: Record<string, unknown>): LoadHandle {
  const child = spawn(process.execPath, [...LOAD_NODE_ARGS, join(LOAD_DIR, `${script}.mjs`), JSON.stringify(params)], { stdio: ["ignore", "pipe", "inherit"] });
  let last = "";
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (line === "READY") readyResolve();
    else if (line.startsWith("{")) last = line;
  });
  const result = new Promise<Record<string, number>>((resolve, reject) => {
    child.on("exit", (code) => (last ? resolve(JSON.parse(last) as Record<string, number>) : reject(new Error(`${script} exited with ${code} and no result`))));
  });
  return { result, ready, kill: () => child.kill("SIGKILL") };
}

export const run = (script: string, params: Record<string, unknown>) => load(script, params).result;

/** The raw gRPC peer: a grpc-js server answering each message at once (bench/load/peer-echo.ts), in its own process. */
export async function startEchoServer(): Promise<{ address: string; stop(): void }> {
  const echo = spawn(process.execPath, [...LOAD_NODE_ARGS, join(LOAD_DIR, "peer-echo.mjs"), JSON.stringify({ mode: "serve" })], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: echo.stdout }).on("line", (l) => l.startsWith("PORT ") && resolve(Number(l.slice(5))));
    echo.once("exit", (code) => reject(new Error(`the echo server exited with ${code} before listening`)));
  });
  return { address: `127.0.0.1:${port}`, stop: () => echo.kill() };
}

export interface Scrape {
  gcSeconds: number;
  rssBytes: number;
  cpuSeconds: number;
}

export async function scrape(b: BrokerProcess): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${b.metricsPort}/metrics`)).text();
  const sum = (prefix: string) => text.split("\n").filter((l) => l.startsWith(prefix)).reduce((s, l) => s + Number(l.split(" ").at(-1)), 0);
  return { gcSeconds: sum("nodejs_gc_duration_seconds_sum"), rssBytes: sum("process_resident_memory_bytes"), cpuSeconds: sum("process_cpu_seconds_total") };
}

/** Runs `phase` and returns its result with the broker's GC pause total during it (ms). */
export async function withGc<T>(b: BrokerProcess, phase: () => Promise<T>): Promise<{ r: T; gcMs: number; cpuUs: number }> {
  const before = await scrape(b);
  const r = await phase();
  const after = await scrape(b);
  return { r, gcMs: (after.gcSeconds - before.gcSeconds) * 1000, cpuUs: (after.cpuSeconds - before.cpuSeconds) * 1e6 };
}

const dirs: string[] = [];
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "bench-"));
  dirs.push(d);
  return d;
}

export async function spawn_(extra: Record<string, string>, dataDir: string, nodeArgs: string[] = [], main = BROKER_MAIN): Promise<BrokerProcess> {
  return spawnBroker({ BROKER_DATA_DIR: dataDir, BROKER_METRICS_PORT: "0", BROKER_LOG_LEVEL: "info", BROKER_MAX_PENDING_EVENTS: "1000000", ...extra }, 30_000, [...BROKER_NODE_ARGS, ...nodeArgs], main);
}

/**
 * The brokers an A/B tool is given on its command line, as `label=<main.js>[::<node options>]`
 * (bench/ab.ts, bench/gc-shape.ts): each label with a start for a fresh broker, in a new data
 * directory, with `nodeArgs` before the broker's own options.
 */
export function brokersOf(argv: readonly string[]): { label: string; start(nodeArgs?: string[]): Promise<BrokerProcess> }[] {
  return argv
    .filter((a) => a.includes("="))
    .map((a) => {
      const [main = "", options = ""] = a.slice(a.indexOf("=") + 1).split("::");
      const own = options.split(" ").filter((o) => o !== "");
      return { label: a.slice(0, a.indexOf("=")), start: (nodeArgs: string[] = []) => spawn_({}, tempDir(), [...nodeArgs, ...own], main) };
    });
}

/**
 * A broker for one scenario: a fresh one in a full run; in a quick run, scenarios without
 * settings of their own share one, which saves a start-up each.
 */
let shared: BrokerProcess | undefined;
export async function broker(extra: Record<string, string> = {}, dataDir?: string): Promise<BrokerProcess> {
  if (!QUICK || dataDir !== undefined || Object.keys(extra).length > 0) return spawn_(extra, dataDir ?? tempDir());
  shared ??= await spawn_({}, tempDir());
  const b = shared;
  return { ...b, stop: async () => ({ code: 0, signal: null }) };
}

/** Removes the temporary directories of the run. */
export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** The shared broker of a quick run, if one was started. */
export async function stopShared(): Promise<void> {
  await shared?.stop();
  shared = undefined;
}

export const fmt = (v: number) => (Number.isNaN(v) ? "–" : v >= 1000 ? Math.round(v).toLocaleString("en") : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** The median of the values, with their range. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** "median (min–max)" of several runs, or the single value. */
export function spread(values: readonly number[]): string {
  if (values.length < 2) return fmt(values[0] ?? Number.NaN);
  return `${fmt(median(values))} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`;
}

/** The load average (1, 5, 15 min) now, as printed next to figures. */
export function loadAverage(): string {
  return loadavg().map((l) => l.toFixed(2)).join(" ");
}

