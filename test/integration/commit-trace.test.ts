// The commit trace (BROKER_COMMIT_TRACE): every commit's stages, in order on one clock across the
// main thread and the store's writer thread, with the ids of its groups; the trace file holds them
// with the checkpoints, GC pauses and event-loop delays of the time.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { prepareEvent } from "../../server/src/services/prepare-event.js";
import { CommitTrace } from "../../server/src/store/commit-trace.js";
import { GroupCommitter, monoMs, type CommitRecord } from "../../server/src/store/group-commit.js";
import { openSqliteStore } from "../../server/src/store/sqlite/sqlite-store.js";
import { sampleEvent } from "../helpers/sample-events.js";

const event = () => prepareEvent(sampleEvent("like.added"), { maxEventBytes: 1 << 20 });

describe("commit trace", () => {
  it("records each commit's stages in order, across threads, with its groups' ids", async () => {
    const dir = mkdtempSync(join(tmpdir(), "commit-trace-"));
    const store = await openSqliteStore({ dataDir: dir, sync: "full", log: pino({ level: "silent" }), checkpoints: { maxWalFrames: 20, quietMs: 50, maxIntervalMs: 1_000 } });
    const file = join(dir, "trace.ndjson");
    const trace = new CommitTrace(file);
    store.onCheckpoint = (c) => trace.checkpoint(c);
    const records: CommitRecord[] = [];
    const committer = new GroupCommitter(store, { maxPendingEvents: 1_000, trace: (r) => (records.push(r), trace.commit(r)) });
    try {
      const t0 = monoMs();
      const groups = Array.from({ length: 30 }, () => [event(), event()]);
      for (let i = 0; i < groups.length; i += 3) await Promise.all(groups.slice(i, i + 3).map((g) => committer.submit(g)));
      // A pause: the quiet checkpoint runs.
      await new Promise((r) => setTimeout(r, 200));
      const t1 = monoMs();
      assert.deepEqual(records.flatMap((r) => r.ids).sort(), groups.map((g) => g[0]?.id).sort());
      assert.equal(records.reduce((n, r) => n + r.events, 0), 60);
      for (const r of records) {
        assert.equal(r.failed, false);
        const s = r.store;
        const stages = [...r.submitted, r.handover, s.received, s.begun, s.committing, s.committed, r.settled];
        assert.ok(Math.max(...r.submitted) <= r.handover, "submitted before the hand-over");
        for (let i = r.submitted.length; i < stages.length - 1; i++) assert.ok((stages[i] as number) <= (stages[i + 1] as number), `stage ${i} in order: ${stages.join(", ")}`);
        assert.ok(Math.min(...r.submitted) >= t0 && r.settled <= t1, "on the clock of the test");
      }
    } finally {
      await committer.drain();
      await store.close();
      await trace.close();
    }
    try {
      const kinds = new Set(readFileSync(file, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { k: string }).k));
      for (const k of ["c", "cp", "loop"]) assert.ok(kinds.has(k), `the file holds '${k}' records`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
