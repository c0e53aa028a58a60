// Ingest at equal durability (issue 18): PublishStream (one live subscriber) and PublishBatch with
// BROKER_SQLITE_SYNC=normal (no fsync per commit: an acknowledged event survives a crash of the
// broker, not of the machine) beside JetStream publish-ack with its default file storage (no fsync
// per acknowledgement either), and with `full` (an fsync per commit). JetStream's counterpart of
// `full`, `sync_interval: always`, arrived in nats-server 2.10; the nats-server here is 2.9.10 (its
// configuration refuses the field), so `full` has no JetStream row. Each scenario runs three times.
import { readFileSync } from "node:fs";
import type { NatsServer } from "../../test/helpers/nats-server.js";
import { QUICK, SIZE, load, median, rows, run, spawn_, tempDir, withGc } from "../lib/harness.js";

const REPEATS = 3;

/** A process's CPU time so far (user + system), in µs, from /proc; NaN where there is none. */
function processCpuUs(pid: number | undefined): number {
  try {
    if (pid === undefined) return Number.NaN;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command's closing ")"; in
    // clock ticks of 1/100 s (USER_HZ on Linux).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return Number.NaN;
  }
}

export async function durability(nats: NatsServer): Promise<void> {
  const count = QUICK ? SIZE.stream : 100_000;
  const js: number[] = [];
  const jsClientCpu: number[] = [];
  const jsServerCpu: number[] = [];
  const results = new Map<string, { perSec: number[]; gcMs: number[]; cpu: number[]; clientCpu: number[]; lost: number }>();
  const add = (key: string, perSec: number, gcMs: number, cpu: number, clientCpu: number, lost = 0) => {
    const r = results.get(key) ?? { perSec: [], gcMs: [], cpu: [], clientCpu: [], lost: 0 };
    r.perSec.push(perSec), r.gcMs.push(gcMs), r.cpu.push(cpu), r.clientCpu.push(clientCpu), (r.lost += lost);
    results.set(key, r);
  };
  for (let rep = 0; rep < REPEATS; rep++) {
    const serverBefore = processCpuUs(nats.pid);
    const j = await run("peer-nats", { url: nats.url, mode: "jetstream", count: count / 2 });
    js.push(j["perSec"] ?? 0);
    jsServerCpu.push((processCpuUs(nats.pid) - serverBefore) / (count / 2));
    jsClientCpu.push((j["cpuUs"] ?? Number.NaN) / (count / 2));
    for (const sync of ["normal", "full"] as const) {
      const b = await spawn_({ BROKER_SQLITE_SYNC: sync }, tempDir());
      try {
        const source = `durability-${sync}`;
        const sub = load("subscribers", { address: b.address, subscribers: 1, expect: count, source, timeoutMs: 120_000 });
        await sub.ready;
        const s = await withGc(b, () => run("stream", { address: b.address, count, window: 5_000, source }));
        add(`stream|${sync}`, s.r["perSec"] ?? 0, s.gcMs, s.cpuUs / count, (s.r["cpuUs"] ?? Number.NaN) / count, (await sub.result)["lost"] ?? 0);
        const bt = await withGc(b, () => run("batch", { address: b.address, count, batch: 500, concurrency: 4, source: `${source}-batch` }));
        add(`batch|${sync}`, bt.r["perSec"] ?? 0, bt.gcMs, bt.cpuUs / count, (bt.r["cpuUs"] ?? Number.NaN) / count);
      } finally {
        await b.stop();
      }
    }
  }
  const jetstream = median(js);
  rows.push({ section: "equal durability", metric: "JetStream publish-ack, default file storage (no fsync per ack), 500 B", value: jetstream, runs: js, unit: "acks/s", note: `nats.js client, 2,000 in flight; the same run; nats-server CPU ${median(jsServerCpu).toFixed(0)} µs/ack, client CPU ${median(jsClientCpu).toFixed(0)} µs/ack` });
  for (const sync of ["normal", "full"] as const) {
    const peer = sync === "normal" ? { name: "JetStream, no fsync per ack", value: jetstream } : undefined;
    const why = sync === "full" ? "JetStream here (2.9.10) cannot fsync each write (sync_interval arrived in 2.10)" : "";
    const s = results.get(`stream|${sync}`);
    const bt = results.get(`batch|${sync}`);
    if (s) rows.push({ section: `equal durability (BROKER_SQLITE_SYNC=${sync})`, metric: "PublishStream with 1 live subscriber", value: median(s.perSec), runs: s.perSec, unit: "ev/s", ...(peer && { peer, target: { op: ">=" as const, value: jetstream } }), gcMs: median(s.gcMs), note: `subscriber lost ${s.lost}; broker CPU ${median(s.cpu).toFixed(0)} µs/event, client (SDK publisher) CPU ${median(s.clientCpu).toFixed(0)} µs/event ${why}` });
    if (bt) rows.push({ section: `equal durability (BROKER_SQLITE_SYNC=${sync})`, metric: "PublishBatch (500 per batch, 4 in flight)", value: median(bt.perSec), runs: bt.perSec, unit: "ev/s", ...(peer && { peer }), gcMs: median(bt.gcMs), note: `broker CPU ${median(bt.cpu).toFixed(0)} µs/event, client CPU ${median(bt.clientCpu).toFixed(0)} µs/event` });
  }
}
