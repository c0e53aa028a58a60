// The store alone (no gRPC, no client): the broker's group committer over the embedded SQLite store,
// one event per submission at `rate` per second, open loop, for `seconds`; reports the latency from
// the scheduled time to the durable outcome, and the WAL's largest size. It separates the store's
// part of a unary publish's tail from the rest; and the commit stage alone (WAL write + fsync).
import { statSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { openSqliteStore } from "../../server/src/store/sqlite/sqlite-store.js";
import { GroupCommitter } from "../../server/src/store/group-commit.js";
import { prepareEvent } from "../../server/src/services/prepare-event.js";
import { newEventId } from "../../sdk/src/index.js";
import { benchEvent } from "../lib/events.js";
import { args, latencySummary, report } from "../lib/stats.js";

const { dir, sync, rate, seconds, warmupSeconds = 1 } = args<{ dir: string; sync: "full" | "normal"; rate: number; seconds: number; warmupSeconds?: number }>();
const store = await openSqliteStore({ dataDir: dir, sync, log: pino({ level: "silent" }) });
// The commit stage alone (the WAL write and its fsync, in the writer thread): the disk's part.
const commitMs: number[] = [];
let counting = false;
const committer = new GroupCommitter(store, { maxPendingEvents: 1_000_000, trace: (r) => counting && commitMs.push(r.store.committed - r.store.committing) });
const event = benchEvent("store-bench");
const wal = join(dir, "events.db-wal");
let walMax = 0;
const walTimer = setInterval(() => {
  try {
    walMax = Math.max(walMax, statSync(wal).size);
  } catch {
    // no WAL yet
  }
}, 50);
const latencies: number[] = [];
const warm = Math.round(rate * warmupSeconds);
const total = warm + Math.round(rate * seconds);
const pending: Promise<unknown>[] = [];
const t0 = performance.now();
for (let i = 0; i < total; i++) {
  const scheduled = t0 + (i * 1000) / rate;
  const wait = scheduled - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  counting = i >= warm;
  event.id = newEventId();
  const ne = prepareEvent(event, { maxEventBytes: 1 << 20 });
  pending.push(committer.submit([ne]).then(() => i >= warm && latencies.push(performance.now() - scheduled)));
}
await Promise.all(pending);
clearInterval(walTimer);
await committer.drain();
await store.close();
const c = latencySummary(commitMs);
report({ rate, sync, ...latencySummary(latencies), walMaxMiB: walMax / 2 ** 20, commitP50: c.p50, commitP99: c.p99, commitP999: c.p999 });
