// The commit path isolates its listeners: a throwing listener of the committer, of the fan-out or
// of the live hub is logged and counted, and never costs a publish or another listener an event.
// Regression tests for issue 10, item 5.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommitFanout } from "../../server/src/commit-fanout.js";
import { createLogger } from "../../server/src/logger.js";
import { prepareEvent } from "../../server/src/services/prepare-event.js";
import { LiveHub } from "../../server/src/log/live-hub.js";
import type { EventStore } from "../../server/src/store/event-store.js";
import { GroupCommitter, type CommittedEvent } from "../../server/src/store/group-commit.js";
import { encodePosition } from "../../server/src/store/position.js";
import { openSqliteStore } from "../../server/src/store/sqlite/sqlite-store.js";
import { LogSink } from "../helpers/broker.js";
import { sampleEvent } from "../helpers/sample-events.js";

const newEvent = () => prepareEvent(sampleEvent("like.added"), { maxEventBytes: 1 << 20 });
const committed = (seq: number): CommittedEvent => ({ id: `e${seq}`, type: "like.added", source: "s", subject: "", correlationId: "", position: encodePosition(BigInt(seq)), recordedUs: seq, data: new Uint8Array([seq]) });
const boom = () => {
  throw new Error("listener bug");
};

describe("the commit path", () => {
  let dir: string;
  let store: EventStore;
  let logs: LogSink;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "commit-path-"));
    logs = new LogSink();
    store = await openSqliteStore({ dataDir: dir, sync: "normal", log: createLogger("silent", logs) });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("acknowledges publishes and reports the error when onCommitted throws, commit after commit", async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const committer = new GroupCommitter(store, {
      maxPendingEvents: 100,
      onCommitted: () => {
        calls++;
        boom();
      },
      onCommittedError: (err) => errors.push(err),
    });
    const [first] = await committer.submit([newEvent()]);
    const [second] = await committer.submit([newEvent()]);
    assert.ok(first && second && first.position < second.position);
    assert.equal(calls, 2);
    assert.equal(errors.length, 2);
    await committer.drain();
  });

  it("fan-out: a throwing listener is logged and counted, the later ones still get the events", () => {
    const sink = new LogSink();
    const failed: string[] = [];
    const got: string[] = [];
    const fanout = new CommitFanout(createLogger("info", sink), (l) => failed.push(l)).add("hub", boom).add("bus", (events) => got.push(...events.map((e) => e.position)));
    fanout.deliver([committed(1), committed(2)]);
    fanout.deliver([committed(3)]);
    assert.deepEqual(got, [1, 2, 3].map((s) => encodePosition(BigInt(s))));
    assert.deepEqual(failed, ["hub", "hub"]);
    assert.equal(sink.lines.filter((l) => l["msg"] === "commit listener failed" && l["listener"] === "hub").length, 2);
  });

  it("live hub: a throwing listener costs the others no event, and the hub skips none", async () => {
    const sink = new LogSink();
    let errors = 0;
    const hub = new LiveHub(store, createLogger("info", sink), { onListenerError: () => errors++ });
    await hub.start();
    try {
      const head = hub.lastSeq;
      const seen: bigint[] = [];
      hub.attach(boom);
      hub.attach((e) => seen.push(e.seq));
      const local = (n: number) => ({ ...committed(0), id: `h${n}`, position: encodePosition(head + BigInt(n)) });
      hub.offerLocal([local(1), local(2)]);
      hub.offerLocal([local(3)]);
      assert.deepEqual(seen, [head + 1n, head + 2n, head + 3n]);
      assert.equal(hub.lastSeq, head + 3n);
      assert.equal(errors, 3);
      assert.equal(sink.lines.filter((l) => l["msg"] === "live hub listener failed").length, 3);
    } finally {
      hub.close();
    }
  });
});
