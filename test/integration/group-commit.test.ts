// Issue 19, item 7: a commit that succeeded but whose answer was lost (a timeout, a dropped
// connection) rejects its publishers; their retry finds the events stored (duplicate=true), and those
// events must still reach this broker's bus, which nobody fed them to. The store is the real SQLite
// store; only the answer of one commit is made to go missing.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ErrorReason } from "../../sdk/src/index.js";
import { storeUnavailable, DomainError } from "../../server/src/errors.js";
import { prepareEvent } from "../../server/src/services/prepare-event.js";
import type { EventStore, NewEvent } from "../../server/src/store/event-store.js";
import { GroupCommitter, type CommittedEvent } from "../../server/src/store/group-commit.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";

const newEvent = (): NewEvent => prepareEvent(sampleEvent("like.added"), { maxEventBytes: 1 << 20 });

/** The real store, except that the next commit's answer can be lost after it was made durable. */
function losingAnswers(store: EventStore): EventStore & { loseNext(): void } {
  let lose = false;
  return Object.assign(Object.create(store) as EventStore, {
    loseNext: () => void (lose = true),
    append: async (groups: readonly (readonly NewEvent[])[]) => {
      const outcomes = await store.append(groups);
      if (!lose) return outcomes;
      lose = false;
      throw storeUnavailable(new Error("answer lost"), "the event store did not answer in time");
    },
  });
}

describe("GroupCommitter", () => {
  let temp: TempStore;
  before(async () => (temp = await openTempStore("group-commit-")));
  after(() => temp.close());

  it("fans out an event whose commit answer was lost when its retry comes back as a duplicate", async () => {
    const flaky = losingAnswers(temp.store);
    const fanned: CommittedEvent[] = [];
    const committer = new GroupCommitter(flaky, { maxPendingEvents: 100, onCommitted: (events) => fanned.push(...events) });
    const e = newEvent();
    flaky.loseNext();
    await assert.rejects(committer.submit([e]), (err: unknown) => err instanceof DomainError && err.reason === ErrorReason.STORE_UNAVAILABLE);
    assert.equal(fanned.length, 0, "a failed commit fans out nothing");
    const [retry] = await committer.submit([{ ...e }]);
    assert.equal(retry?.duplicate, true);
    assert.deepEqual(fanned.map((c) => [c.id, c.position]), [[e.id, retry?.position]]);
    // Once only: a further retry of an event already fanned out is not sent again.
    await committer.submit([{ ...e }]);
    assert.equal(fanned.length, 1);
    await committer.drain();
  });

  it("does not fan out a duplicate of an event that was fanned out when stored", async () => {
    const fanned: CommittedEvent[] = [];
    const committer = new GroupCommitter(temp.store, { maxPendingEvents: 100, onCommitted: (events) => fanned.push(...events) });
    const e = newEvent();
    await committer.submit([e]);
    const [again] = await committer.submit([{ ...e }]);
    assert.equal(again?.duplicate, true);
    assert.deepEqual(fanned.map((c) => c.id), [e.id]);
    await committer.drain();
  });
});
