import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FrameProgress, IncompleteMessages, type IncompleteVerdict } from "../../server/src/grpc/incomplete-messages.js";

/** A gRPC frame prefix announcing `length` bytes. */
function prefix(length: number): Uint8Array {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(length, 1);
  return b;
}

describe("FrameProgress", () => {
  it("counts the bytes of the message in progress, across chunk boundaries, and drops them when it completes", () => {
    const p = new FrameProgress();
    assert.equal(p.write(prefix(10).subarray(0, 3)), 3);
    assert.equal(p.write(Buffer.concat([prefix(10).subarray(3), Buffer.alloc(4)])), 6);
    assert.equal(p.held, 9);
    assert.equal(p.announced, 10);
    // The rest of the message and half of the next prefix: the first completes.
    assert.equal(p.write(Buffer.concat([Buffer.alloc(6), prefix(0).subarray(0, 2)])), 2 - 9);
    assert.equal(p.write(prefix(0).subarray(2)), -2);
    assert.equal(p.held, 0);
  });
});

describe("IncompleteMessages", () => {
  const limits = { perConnectionBytes: 100, totalBytes: 150, stallMs: 1_000 };

  function setup() {
    let now = 0;
    const guard = new IncompleteMessages(limits, () => now);
    const ended: IncompleteVerdict["kind"][] = [];
    const open = (conn = guard.connection(), paused = () => false) => ({ conn, s: guard.track(conn, (v) => ended.push(v.kind), paused) });
    return { guard, ended, open, advance: (ms: number) => (now += ms) };
  }

  it("ends the stream that takes its connection past the bound, and frees its bytes", () => {
    const { guard, ended, open } = setup();
    const a = open();
    const b = open(a.conn);
    a.s.data(Buffer.concat([prefix(1_000), Buffer.alloc(55)]));
    assert.deepEqual(ended, []);
    b.s.data(Buffer.concat([prefix(1_000), Buffer.alloc(45)]));
    assert.deepEqual(ended, ["connection-bytes"]);
    assert.equal(guard.held, 60);
    a.s.close();
    assert.equal(guard.held, 0);
  });

  it("ends the stream that takes the server past its total", () => {
    const { ended, open } = setup();
    open().s.data(Buffer.concat([prefix(1_000), Buffer.alloc(75)]));
    open().s.data(Buffer.concat([prefix(1_000), Buffer.alloc(75)]));
    assert.deepEqual(ended, ["total-bytes"]);
  });

  it("ends a message that stops moving, but not one the reader paused or one that completed", () => {
    const { guard, ended, open, advance } = setup();
    const stalled = open();
    let paused = true;
    const waiting = open(undefined, () => paused);
    const done = open();
    stalled.s.data(Buffer.concat([prefix(100), Buffer.alloc(10)]));
    waiting.s.data(Buffer.concat([prefix(100), Buffer.alloc(10)]));
    done.s.data(Buffer.concat([prefix(10), Buffer.alloc(10)]));
    advance(999);
    guard.sweep();
    assert.deepEqual(ended, []);
    advance(1);
    guard.sweep();
    assert.deepEqual(ended, ["stalled"]);
    paused = false;
    advance(999);
    guard.sweep();
    assert.deepEqual(ended, ["stalled"], "the pause restarted its clock");
    advance(1);
    guard.sweep();
    assert.deepEqual(ended, ["stalled", "stalled"]);
    assert.equal(guard.held, 0);
  });

  it("ends a message that trickles in a byte now and then once it is older than stallMs", () => {
    const { ended, open, advance, guard } = setup();
    const slow = open();
    slow.s.data(prefix(100));
    for (let i = 0; i < 3; i++) {
      advance(400);
      slow.s.data(Buffer.alloc(1));
      guard.sweep();
    }
    assert.deepEqual(ended, ["too-slow"], "1,200 ms after its first byte, never 1,000 ms without one");
  });

  it("excuses a paused reader up to stallMs, so a message never stays incomplete past twice stallMs", () => {
    const { ended, open, advance, guard } = setup();
    open(undefined, () => true).s.data(Buffer.concat([prefix(100), Buffer.alloc(10)]));
    for (let t = 0; t < 1_900; t += 100) {
      advance(100);
      guard.sweep();
    }
    assert.deepEqual(ended, []);
    advance(100);
    guard.sweep();
    assert.deepEqual(ended, ["too-slow"]);
  });

  it("starts each message's clock at its own first byte", () => {
    const { ended, open, advance, guard } = setup();
    const s = open();
    s.s.data(Buffer.concat([prefix(10), Buffer.alloc(5)]));
    advance(900);
    // The first completes and the second begins in the same chunk.
    s.s.data(Buffer.concat([Buffer.alloc(5), prefix(10), Buffer.alloc(2)]));
    advance(900);
    s.s.data(Buffer.alloc(2));
    guard.sweep();
    assert.deepEqual(ended, []);
    advance(100);
    guard.sweep();
    assert.deepEqual(ended, ["too-slow"]);
  });
});
