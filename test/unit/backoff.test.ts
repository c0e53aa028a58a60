import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { Backoff, sleep } from "../../sdk/src/client/backoff.js";

describe("Backoff", () => {
  it("doubles from the base up to the cap, scaled by the jitter, and starts over on reset()", () => {
    const low = new Backoff({ baseMs: 100, maxMs: 1_000, jitter: 0.5 }, () => 0);
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => low.next()), [50, 100, 200, 400, 500, 500]);
    assert.equal(low.attempts, 6);
    low.reset();
    assert.equal(low.attempts, 0);
    assert.equal(low.next(), 50);
    const high = new Backoff({ baseMs: 100, maxMs: 1_000, jitter: 0.5 }, () => 0.999);
    assert.ok(high.next() < 100 && high.next() >= 199);
  });

  it("stays finite after very many attempts", () => {
    const b = new Backoff({ baseMs: 100, maxMs: 5_000, jitter: 0 });
    for (let i = 0; i < 5_000; i++) b.next();
    assert.equal(b.next(), 5_000);
  });
});

describe("sleep()", () => {
  it("removes its abort listener when the timer fires", async () => {
    const ac = new AbortController();
    for (let i = 0; i < 20; i++) await sleep(0, ac.signal);
    assert.equal(getEventListeners(ac.signal, "abort").length, 0);
  });

  it("resolves at once on abort, and at once for an aborted signal", async () => {
    const ac = new AbortController();
    const waiting = sleep(3_600_000, ac.signal);
    ac.abort();
    await waiting;
    await sleep(3_600_000, ac.signal);
  });
});
