import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CheckpointPolicy, estimatedFrames } from "../../server/src/store/sqlite/checkpoint-policy.js";
import { ManualClock } from "../helpers/manual-clock.js";

const options = { maxWalFrames: 100, quietMs: 50, maxIntervalMs: 1_000 };

describe("WAL checkpoint policy", () => {
  it("is not due with nothing written, however long it waits", () => {
    const clock = new ManualClock();
    const p = new CheckpointPolicy(clock, options);
    clock.advance(10_000);
    assert.equal(p.due(), false);
  });

  it("is due once the estimated WAL passes its bound, while commits go on without a pause", () => {
    const clock = new ManualClock();
    const p = new CheckpointPolicy(clock, options);
    let commits = 0;
    while (!p.due()) {
      clock.advance(1);
      p.committed(1);
      commits++;
    }
    assert.equal(commits, Math.ceil(100 / estimatedFrames(1)));
    assert.ok(p.pendingFrames >= 100);
  });

  it("is due when commits pause for quietMs, not before", () => {
    const clock = new ManualClock();
    const p = new CheckpointPolicy(clock, options);
    p.committed(1);
    clock.advance(49);
    assert.equal(p.due(), false);
    clock.advance(1);
    assert.equal(p.due(), true);
  });

  it("is due at least every maxIntervalMs under a trickle of small commits", () => {
    const clock = new ManualClock();
    const p = new CheckpointPolicy(clock, { ...options, maxWalFrames: 1_000_000 });
    let at = 0;
    while (!p.due()) {
      clock.advance(10);
      at += 10;
      p.committed(1);
    }
    assert.equal(at, 1_000);
  });

  it("never starts a second checkpoint while one runs; what was written meanwhile is due after it", () => {
    const clock = new ManualClock();
    const p = new CheckpointPolicy(clock, options);
    for (let i = 0; i < 20; i++) p.committed(1);
    assert.equal(p.due(), true);
    p.started();
    assert.equal(p.pendingFrames, 0);
    for (let i = 0; i < 20; i++) p.committed(1);
    assert.equal(p.due(), false, "one runs");
    p.finished(0);
    assert.equal(p.due(), true);
    assert.equal(p.pendingFrames, 20 * estimatedFrames(1));
  });

  it("keeps frames a checkpoint could not copy due", () => {
    const clock = new ManualClock();
    const p = new CheckpointPolicy(clock, options);
    p.committed(1);
    clock.advance(50);
    p.started();
    p.finished(7);
    assert.equal(p.pendingFrames, 7);
    clock.advance(50);
    assert.equal(p.due(), true);
  });
});
