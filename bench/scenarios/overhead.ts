// What optional broker features cost, each measured against the same broker without them in the
// same run, three times: access control (issue 14) and tracing (issue 15).
import { createServer } from "node:http";
import { once } from "node:events";
import { QUICK, SIZE, median, rows, run, spawn_, tempDir, withGc } from "../lib/harness.js";

const REPEATS = 3;

/**
 * Unary (50 callers, saturation) and streaming publish with each setting, `REPEATS` times in turn;
 * rows give the median with the range and, for each setting after the first, its cost against the first.
 */
async function compare(section: string, settings: [label: string, env: Record<string, string>, credentials?: string][], source: string): Promise<void> {
  const unary = new Map<string, number[]>();
  const stream = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  const failed = new Map<string, number>();
  const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
  for (let rep = 0; rep < REPEATS; rep++) {
    for (const [label, env, credentials] of settings) {
      const b = await spawn_(env, tempDir());
      try {
        const u = await withGc(b, () => run("unary", { address: b.address, mode: "saturate", concurrency: 50, seconds: QUICK ? SIZE.seconds : 5, source, ...(credentials && { credentials }) }));
        failed.set(label, (failed.get(label) ?? 0) + (u.r["errors"] ?? 0));
        push(unary, label, u.r["perSec"] ?? 0);
        push(cpu, `u|${label}`, u.cpuUs / Math.max(1, u.r["calls"] ?? 1));
        const count = QUICK ? SIZE.stream : 100_000;
        const s = await withGc(b, () => run("stream", { address: b.address, count, window: 5_000, source, ...(credentials && { credentials }) }));
        failed.set(label, (failed.get(label) ?? 0) + (s.r["failed"] ?? 0));
        push(stream, label, s.r["perSec"] ?? 0);
        push(cpu, `s|${label}`, s.cpuUs / count);
      } finally {
        await b.stop();
      }
    }
  }
  const [base] = settings[0] ?? [""];
  for (const [label] of settings) {
    for (const [kind, m, k] of [["unary Publish, 50 callers", unary, "u"], ["PublishStream", stream, "s"]] as const) {
      const runs = m.get(label) ?? [];
      const vs = label === base ? "" : `; ${(median(runs) / median(m.get(base) ?? [])).toFixed(3)}× ${base} (medians)`;
      rows.push({ section, metric: `${kind}, ${label}`, value: median(runs), runs, unit: "ev/s", note: `broker CPU ${median(cpu.get(`${k}|${label}`) ?? []).toFixed(0)} µs/event${vs}; failed publishes (both kinds) ${failed.get(label) ?? 0}` });
    }
  }
}

/** Access control: no policy, and the example policy with a static bearer token (issue 14: aim < 5%). */
export async function auth(): Promise<void> {
  const policy = new URL("../../deploy/auth-policy.example.yaml", import.meta.url).pathname;
  await compare("access control (embedded)", [["auth off", {}], ["auth on (static token, example policy)", { BROKER_AUTH_FILE: policy }, "demo-social-svc-token"]], "social-svc");
}

/**
 * The broker's tracing cost: off (the default) and on with every publish sampled, its spans
 * exported over OTLP to a local endpoint that reads and drops them. The load generators have no
 * OpenTelemetry SDK, so this is the broker's share (publish and commit spans) only.
 */
export async function tracing(): Promise<void> {
  const sink = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200).end());
  });
  sink.listen(0, "127.0.0.1");
  await once(sink, "listening");
  const endpoint = `http://127.0.0.1:${(sink.address() as { port: number }).port}`;
  try {
    await compare("tracing (embedded)", [["tracing off", {}], ["tracing on, 100% sampled, OTLP export", { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: "always_on" }]], "tracing");
  } finally {
    sink.close();
  }
}
