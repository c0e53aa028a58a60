// The bench's tail breakdown (bench/lib/breakdown.ts): a call's stages add up to its latency, and
// the GC pauses, loop delays and checkpoints around it are attributed to it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { STAGES, joinTraces, tailBreakdown, type Stage } from "../../bench/lib/breakdown.js";

const commit = (ids: string[], submitted: number[], t: number) =>
  JSON.stringify({ k: "c", ids, submitted, events: ids.length, handover: t + 1, store: { received: t + 1.5, begun: t + 1.6, committing: t + 2, committed: t + 3 }, settled: t + 3.5, failed: false });

describe("tail breakdown", () => {
  it("splits each call into stages that add up to its latency, with what overlapped it", () => {
    const broker = [
      commit(["a", "b"], [100.5, 100.6], 100),
      commit(["c"], [200.5], 200),
      JSON.stringify({ k: "gc", s: 201, d: 2 }),
      JSON.stringify({ k: "loop", t: 230, max: 4 }),
      JSON.stringify({ k: "cp", start: 201.9, end: 250, walFrames: 10, backfilled: 10, complete: true }),
    ].join("\n");
    // id scheduled sent done status
    const client = ["a 100 100.2 104 0", "b 100 100.3 104.5 0", "c 199 200.2 210 0", "d 300 300 301 0", "e 100 100 101 13"].join("\n");
    const calls = joinTraces(client, broker);
    assert.equal(calls.length, 3, "calls the broker did not trace, or that failed, are left out");
    for (const c of calls) {
      const sum = (Object.keys(STAGES) as Stage[]).reduce((s, k) => s + c.stages[k], 0);
      assert.ok(Math.abs(sum - c.latency) < 1e-9, `${sum} = ${c.latency}`);
    }
    const c = calls.find((x) => x.latency === 11) as (typeof calls)[number];
    assert.ok(Math.abs(c.stages.client - 1.2) < 1e-9);
    assert.equal(c.stages.commit, 1);
    assert.equal(c.gcMs, 2);
    assert.equal(c.loopMaxMs, 4);
    assert.equal(c.checkpoint, true);
    assert.equal(calls.find((x) => x.latency === 4)?.checkpoint, false);

    const slowest = tailBreakdown(calls, 99);
    assert.equal(slowest.calls, 1);
    assert.equal(slowest.latency, 11);
    assert.equal(slowest.gcShare, 1);
  });
});
