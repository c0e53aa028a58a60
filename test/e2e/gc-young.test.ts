// A unary call's objects die young (issue 18). When something keeps them past their call (a
// WeakMap entry per call, a per-call object literal with getters, an AbortSignal made for every
// call, V8 pretenuring the call path after a burst), every young-generation GC copies and
// promotes the calls of the last few hundred milliseconds: ~18% of what was allocated instead of
// well under 1%, scavenges of ~6 ms instead of ~1.5, and a p99 twice as long. This watches the
// broker's own GC trace (a memory behaviour, not a time): after a burst of concurrent calls, as
// a reconnecting client or a load test's warm-up makes, a steady stream of publishes must leave
// little behind in each scavenge. BENCHMARKS.md, "Issue 18", measures the latency side.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RequestTemplate } from "../../bench/lib/events.js";
import { ThinClient } from "../../bench/lib/thin-client.js";
import { newEventId } from "../../sdk/src/index.js";
import { spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { mainThreadGcs, parseGcTrace } from "../helpers/gc-trace.js";

const PUBLISH = "/qingyu.broker.v1.EventBrokerService/Publish";
const BURST = 200;
const STEADY = 4_000;
/** Calls in flight during the steady part: few, so that what is in flight is a small part of a scavenge. */
const IN_FLIGHT = 2;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

describe("garbage collection under a steady publish load", () => {
  let dir: string;
  let broker: BrokerProcess | undefined;
  let trace = "";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gc-young-"));
    // V8's own young generation size, whatever NODE_OPTIONS says: enough scavenges to judge.
    broker = await spawnBroker({ BROKER_DATA_DIR: join(dir, "data") }, 60_000, ["--trace-gc", "--trace-gc-nvp", "--max-semi-space-size=16"]);
    broker.proc.stdout?.on("data", (d: Buffer) => (trace += d.toString()));
  });

  after(async () => {
    try {
      await broker?.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps what a unary Publish allocates young: a scavenge promotes a small part of what was allocated", async () => {
    const client = new ThinClient((broker as BrokerProcess).address);
    const template = new RequestTemplate("gc-young-test");
    try {
      const burst = await Promise.all(Array.from({ length: BURST }, () => client.call(PUBLISH, template.frame(newEventId()))));
      assert.deepEqual(new Set(burst), new Set([0]));
      const from = trace.length;
      let sent = 0;
      const statuses = await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          const mine: number[] = [];
          while (sent < STEADY) {
            sent++;
            mine.push(await client.call(PUBLISH, template.frame(newEventId())));
          }
          return mine;
        }),
      );
      assert.deepEqual(new Set(statuses.flat()), new Set([0]));
      const scavenges = mainThreadGcs(parseGcTrace(trace.slice(from))).filter((g) => g.kind === "s" && g.allocated > 0);
      assert.ok(scavenges.length >= 5, `only ${scavenges.length} scavenges during ${STEADY} publishes: too few to judge`);
      const share = median(scavenges.map((g) => g.promoted / g.allocated));
      const detail = scavenges.map((g) => `${Math.round(g.promoted / 1024)}/${Math.round(g.allocated / 1024)} KiB`).join(", ");
      // Healthy: ~0.5%. A call kept past its end: 15-20% (every call since the last scavenge).
      assert.ok(share < 0.05, `scavenges promoted a median ${(share * 100).toFixed(1)}% of what was allocated (promoted/allocated: ${detail})`);
    } finally {
      client.close();
    }
  });
});
