// A group with 100,000 dead letters (written straight into the store, as a group that failed that
// many events would have left them) resumes and is deleted without loading them: counts and
// key-only scans (issue 10, item 2). RSS is printed for the record; the test asserts on counts.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { AttemptSchema } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { eventToBinary, newEvent, TargetType } from "../../sdk/src/index.js";
import { deadLetterRecord } from "../../server/src/groups/group-records.js";
import { encodePosition } from "../../server/src/store/position.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

const LETTERS = 100_000;
const CHUNK = 2_000;
const mb = () => Math.round(process.memoryUsage().rss / 2 ** 20);

describe("a group with 100,000 dead letters", () => {
  let t: TestBroker;
  before(async () => (t = await startTestBroker()));
  after(() => t.close());

  // Writing 100,000 records takes a while on a busy machine: a harness limit, not a time assertion.
  it("resumes with its dead letters counted and is deleted with all of them", { timeout: 600_000 }, async () => {
    await t.client.groups.create({ name: "dl-big", filter: { sources: ["dl-big-src"] }, start: "now" });
    const data = eventToBinary(newEvent("comment.created", { userId: "u", targetType: TargetType.BOOK, targetId: "b1", commentId: "c", content: "长".repeat(300) }, { source: "dl-big-src" }));
    const attempts = [create(AttemptSchema, { error: "failed" })];
    for (let i = 0; i < LETTERS; i += CHUNK) {
      const records = Array.from({ length: CHUNK }, (_, j) => deadLetterRecord("dl-big", encodePosition(BigInt(1_000_000 + i + j)), data, attempts, "max attempts"));
      await t.broker.store.kvWrite(records);
    }
    const dir = t.dataDir;
    await t.close({ keepData: true });
    const before = mb();
    t = await startTestBroker({}, dir, { adopt: true });
    const resumed = await t.client.groups.get("dl-big");
    console.log(`rss before restart ${before} MB, after resuming ${mb()} MB`);
    assert.equal(resumed.stats.deadLetters, BigInt(LETTERS));
    await t.client.groups.delete("dl-big");
    assert.equal(await t.broker.store.kvGet("group/dl-big"), undefined);
    // The letters go in the background, a chunk of keys at a time.
    while ((await t.broker.store.kvCount("dead/dl-big/")) > 0) await new Promise((r) => setTimeout(r, 100));
    console.log(`rss after deleting ${mb()} MB`);
  });
});
