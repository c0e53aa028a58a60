// Where the slowest acknowledgements spent their time: the unary load's per-call trace joined, by
// event id, with the broker's commit trace (BROKER_COMMIT_TRACE). Every time is on the host's
// monotonic clock, so the stages of one call add up to its latency from the scheduled send time.

/** The stages of one call, in ms; they add up to its latency. */
export const STAGES = {
  client: "client: late sending (its event loop)",
  inbound: "in: HTTP/2, grpc-js, decode, checks (broker main thread)",
  queued: "queued for a commit (committer)",
  writerQueue: "hand-over to the writer thread, waiting behind the commit before",
  rows: "rows written (BEGIN, inserts)",
  commit: "commit: WAL write + fsync",
  back: "outcome back to the main thread, fan-out",
  outbound: "out: acknowledgement, grpc-js, HTTP/2, client",
} as const;
export type Stage = keyof typeof STAGES;

interface Call {
  latency: number;
  stages: Record<Stage, number>;
  /** Broker GC pause time within the call (ms), the longest event-loop delay seen around it, a checkpoint overlapping its commit. */
  gcMs: number;
  loopMaxMs: number;
  checkpoint: boolean;
  batchEvents: number;
}

export interface TailBreakdown {
  /** Calls at or above the percentile, and how many were joined with the broker's trace. */
  percentile: number;
  calls: number;
  /** Mean of each stage over those calls, and their mean latency. */
  latency: number;
  stages: Record<Stage, number>;
  /** Share of those calls that overlapped a broker GC pause, and the mean pause time within them. */
  gcShare: number;
  gcMs: number;
  loopMaxMs: number;
  checkpointShare: number;
  batchEvents: number;
}

interface CommitLine {
  k: "c";
  ids: string[];
  submitted: number[];
  events: number;
  handover: number;
  store: { received: number; begun: number; committing: number; committed: number };
  settled: number;
  failed: boolean;
}

/** Joins the traces; calls the broker did not trace (failed, or before the trace began) are left out. */
export function joinTraces(clientTrace: string, brokerTrace: string): Call[] {
  const byId = new Map<string, { c: CommitLine; i: number }>();
  const gcs: { s: number; d: number }[] = [];
  const loops: { t: number; max: number }[] = [];
  const checkpoints: { start: number; end: number }[] = [];
  for (const line of brokerTrace.split("\n")) {
    if (line === "") continue;
    const r = JSON.parse(line) as { k: string } & Record<string, unknown>;
    if (r.k === "c") (r as unknown as CommitLine).ids.forEach((id, i) => byId.set(id, { c: r as unknown as CommitLine, i }));
    else if (r.k === "gc") gcs.push(r as unknown as { s: number; d: number });
    else if (r.k === "loop") loops.push(r as unknown as { t: number; max: number });
    else if (r.k === "cp") checkpoints.push(r as unknown as { start: number; end: number });
  }
  const calls: Call[] = [];
  for (const line of clientTrace.split("\n")) {
    const [id, scheduledS, sentS, doneS, status] = line.split(" ");
    const hit = id === undefined ? undefined : byId.get(id);
    if (!hit || status !== "0" || hit.c.failed) continue;
    const [scheduled, sent, done] = [Number(scheduledS), Number(sentS), Number(doneS)];
    const { c, i } = hit;
    const submitted = c.submitted[i] as number;
    const s = c.store;
    const stages: Record<Stage, number> = {
      client: sent - scheduled,
      inbound: submitted - sent,
      queued: c.handover - submitted,
      writerQueue: s.received - c.handover,
      rows: s.committing - s.received,
      commit: s.committed - s.committing,
      back: c.settled - s.committed,
      outbound: done - c.settled,
    };
    const gcMs = gcs.reduce((sum, g) => sum + Math.max(0, Math.min(done, g.s + g.d) - Math.max(sent, g.s)), 0);
    const loopMaxMs = loops.reduce((m, l) => (l.t >= sent && l.t - 50 <= done ? Math.max(m, l.max) : m), 0);
    const checkpoint = checkpoints.some((k) => k.start < s.committed && k.end > s.received);
    calls.push({ latency: done - scheduled, stages, gcMs, loopMaxMs, checkpoint, batchEvents: c.events });
  }
  return calls;
}

/** The mean breakdown of the calls at or above the given percentile of latency. */
export function tailBreakdown(calls: readonly Call[], percentile: number): TailBreakdown {
  const sorted = [...calls].sort((a, b) => a.latency - b.latency);
  const tail = sorted.slice(Math.min(sorted.length - 1, Math.floor((percentile / 100) * sorted.length)));
  const mean = (f: (c: Call) => number) => (tail.length === 0 ? Number.NaN : tail.reduce((s, c) => s + f(c), 0) / tail.length);
  const stages = Object.fromEntries(Object.keys(STAGES).map((k) => [k, mean((c) => c.stages[k as Stage])])) as Record<Stage, number>;
  return {
    percentile,
    calls: tail.length,
    latency: mean((c) => c.latency),
    stages,
    gcShare: mean((c) => (c.gcMs > 0 ? 1 : 0)),
    gcMs: mean((c) => c.gcMs),
    loopMaxMs: mean((c) => c.loopMaxMs),
    checkpointShare: mean((c) => (c.checkpoint ? 1 : 0)),
    batchEvents: mean((c) => c.batchEvents),
  };
}

/** A markdown table: one column per breakdown (e.g. p99 and p99.9 tails of several runs). */
export function breakdownTable(columns: readonly { title: string; b: TailBreakdown }[]): string {
  const f = (v: number) => (Number.isNaN(v) ? "–" : v.toFixed(2));
  const pct = (v: number) => (Number.isNaN(v) ? "–" : `${Math.round(v * 100)}%`);
  const lines = [`| stage (mean ms over the calls in the tail) | ${columns.map((c) => c.title).join(" | ")} |`, `|---|${columns.map(() => "---").join("|")}|`];
  lines.push(`| calls in the tail | ${columns.map((c) => c.b.calls).join(" | ")} |`);
  lines.push(`| **latency from the scheduled send** | ${columns.map((c) => `**${f(c.b.latency)}**`).join(" | ")} |`);
  for (const [k, label] of Object.entries(STAGES)) lines.push(`| ${label} | ${columns.map((c) => f(c.b.stages[k as Stage])).join(" | ")} |`);
  lines.push(`| calls overlapping a broker GC pause (mean pause ms within) | ${columns.map((c) => `${pct(c.b.gcShare)} (${f(c.b.gcMs)})`).join(" | ")} |`);
  lines.push(`| longest broker event-loop delay around the call | ${columns.map((c) => f(c.b.loopMaxMs)).join(" | ")} |`);
  lines.push(`| commits overlapping a WAL checkpoint | ${columns.map((c) => pct(c.b.checkpointShare)).join(" | ")} |`);
  lines.push(`| events in the call's commit | ${columns.map((c) => f(c.b.batchEvents)).join(" | ")} |`);
  return lines.join("\n");
}
