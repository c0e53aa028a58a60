// A dead letter queue larger than one chunk (1,000) of redrive/purge and many pages of
// ListDeadLetters: the letters are written straight into the broker's store, as a group that
// failed 2,500 events would have left them.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { AttemptSchema } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { eventToBinary, newEvent, TargetType } from "../../sdk/src/index.js";
import { deadLetterRecord } from "../../server/src/groups/group-records.js";
import { encodePosition } from "../../server/src/store/position.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

const LETTERS = 2_500;

describe("dead letter queues beyond one chunk", () => {
  let t: TestBroker;
  before(async () => (t = await startTestBroker()));
  after(() => t.close());

  async function fill(group: string): Promise<string[]> {
    await t.client.groups.create({ name: group, filter: { sources: [`${group}-src`] }, start: "now" });
    const positions: string[] = [];
    const records = Array.from({ length: LETTERS }, (_, i) => {
      const position = encodePosition(BigInt(1_000_000 + i));
      positions.push(position);
      const e = newEvent("like.added", { userId: `u${i}`, targetType: TargetType.BOOK, targetId: "b1" }, { source: i % 2 === 0 ? "even-svc" : "odd-svc" });
      return deadLetterRecord(group, position, eventToBinary(e), [create(AttemptSchema, { error: "failed" })], "max attempts");
    });
    for (let i = 0; i < records.length; i += 500) await t.broker.store.kvWrite(records.slice(i, i + 500));
    return positions;
  }

  it("lists every letter once, in position order, over many pages", async () => {
    const positions = await fill("dl-list");
    const listed: string[] = [];
    for await (const d of t.client.groups.deadLetters("dl-list", { pageSize: 1_000 })) listed.push(d.position);
    assert.deepEqual(listed, positions);
  });

  it("purges by filter, by positions and then all, across chunks", async () => {
    const positions = await fill("dl-purge");
    assert.equal(await t.client.groups.purge("dl-purge", { filter: { sources: ["odd-svc"] } }), LETTERS / 2);
    const evenPositions = positions.filter((_, i) => i % 2 === 0);
    assert.equal(await t.client.groups.purge("dl-purge", { positions: evenPositions.slice(0, 1_100) }), 1_100);
    const left: string[] = [];
    for await (const d of t.client.groups.deadLetters("dl-purge", { pageSize: 1_000 })) left.push(d.position);
    assert.deepEqual(left, evenPositions.slice(1_100));
    assert.equal(await t.client.groups.purge("dl-purge", "all"), LETTERS / 2 - 1_100);
    for await (const _ of t.client.groups.deadLetters("dl-purge")) assert.fail("a dead letter is left");
  });
});
