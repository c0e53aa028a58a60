// The one queue primitive (sdk/src/fifo.ts): Fifo, Wakeup and AsyncQueue, without I/O.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AsyncQueue, Fifo, Wakeup } from "../../sdk/src/fifo.js";

/** Lets every promise callback queued so far run (no timer: one turn of the event loop). */
const settle = () => new Promise<void>((r) => setImmediate(r));

/** Whether `p` has settled once queued callbacks ran. */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await settle();
  return done;
}

describe("Fifo", () => {
  it("gives items back in push order across its compaction, with peek and length", () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 5_000; i++) q.push(i);
    assert.equal(q.peek(), 0);
    const out: number[] = [];
    for (let i = 0; i < 3_000; i++) out.push(q.shift() as number);
    for (let i = 5_000; i < 6_000; i++) q.push(i);
    assert.equal(q.length, 3_000);
    while (q.length > 0) out.push(q.shift() as number);
    assert.deepEqual(out, Array.from({ length: 6_000 }, (_, i) => i));
    assert.equal(q.shift(), undefined);
    assert.equal(q.peek(), undefined);
  });
});

describe("Wakeup", () => {
  it("wakes every waiter at the next notify, and keeps no notify made before a wait", async () => {
    const w = new Wakeup();
    w.notify();
    const first = w.wait();
    const second = w.wait();
    assert.equal(await isSettled(first), false);
    w.notify();
    assert.equal(await isSettled(first), true);
    assert.equal(await isSettled(second), true);
  });
});

describe("AsyncQueue", () => {
  it("yields what was pushed before and while the consumer waits, in order, and ends after close() once it is empty", async () => {
    const q = new AsyncQueue<number>();
    q.push(1);
    q.push(2);
    const got: number[] = [];
    const reading = (async () => {
      for await (const n of q) got.push(n);
    })();
    await settle();
    assert.deepEqual(got, [1, 2]);
    q.push(3);
    q.close();
    assert.equal(q.push(4), false, "a push after close is dropped");
    await reading;
    assert.deepEqual(got, [1, 2, 3]);
  });

  it("throws the error given to close() after the items pushed before it", async () => {
    const q = new AsyncQueue<string>();
    q.push("a");
    const boom = new Error("stream broke");
    q.close(boom);
    const got: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const s of q) got.push(s);
      })(),
      (err) => err === boom,
    );
    assert.deepEqual(got, ["a"]);
  });

  it("holds a producer at its bound until an item is taken, or the queue is closed", async () => {
    const q = new AsyncQueue<number>(2);
    q.push(1);
    assert.equal(await isSettled(q.waitForRoom()), true, "room below the bound");
    q.push(2);
    assert.equal(q.full, true);
    const room = q.waitForRoom();
    assert.equal(await isSettled(room), false);
    assert.equal(q.shift(), 1);
    assert.equal(await isSettled(room), true);

    q.push(3);
    const closing = q.waitForRoom();
    assert.equal(await isSettled(closing), false);
    q.close();
    assert.equal(await isSettled(closing), true);
  });

  it("tells when every item is taken (drained), and peek leaves the oldest in place", async () => {
    const q = new AsyncQueue<{ n: number }>();
    assert.equal(await isSettled(q.drained()), true, "empty");
    q.push({ n: 1 });
    q.push({ n: 2 });
    const drained = q.drained();
    assert.equal(q.peek()?.n, 1);
    q.shift();
    assert.equal(await isSettled(drained), false);
    assert.equal(q.shift()?.n, 2);
    assert.equal(await isSettled(drained), true);
  });

  it("has one consumer, and a consumer that breaks out ends the queue", async () => {
    const q = new AsyncQueue<number>();
    q.push(1);
    q.push(2);
    const reader = q[Symbol.asyncIterator]();
    assert.deepEqual(await reader.next(), { value: 1, done: false });
    await assert.rejects(q[Symbol.asyncIterator]().next());
    await reader.return?.();
    assert.equal(q.closed, true);
    assert.equal(q.push(3), false);
  });
});
