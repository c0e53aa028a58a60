// https://github.com/qingyu/event-broker/issues/11 (5): pages fit the message limit. QueryEvents
// with the default page size over events near BROKER_MAX_EVENT_BYTES failed with a bare "Sent
// message larger than max": a page now stops before the event that would not fit and its token
// continues; Replay, Subscribe and ListDeadLetters never pass the limit either.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { PublishRequestSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { createBrokerClient, eventToBinary, RejectError, type BrokerClient } from "../../sdk/src/index.js";
import { spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { RawClient } from "../helpers/raw-client.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { varint } from "../helpers/varint.js";

const MAX_MESSAGE = 1 << 20;
const EVENT_COUNT = 12;
const SOURCE = "page-size-test";

/** A valid like.added of about 250 KiB: an unknown field the broker keeps makes up the size. */
function bigEvent(i: number): Uint8Array {
  const e = sampleEvent("like.added");
  e.id = e.id.slice(0, -4) + String(1000 + i);
  e.source = SOURCE;
  const padding = new Uint8Array(250 << 10);
  const eventBytes = new Uint8Array([...eventToBinary(e), ...varint(1000 * 8 + 2), ...varint(padding.length), ...padding]);
  return new Uint8Array([0x0a, ...varint(eventBytes.length), ...eventBytes]);
}

describe("pages of large events (issue 11, 5)", () => {
  let dir: string;
  let broker: BrokerProcess;
  let client: BrokerClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fault-pages-"));
    broker = await spawnBroker({ BROKER_DATA_DIR: dir, BROKER_SQLITE_SYNC: "normal", BROKER_MAX_MESSAGE_BYTES: String(MAX_MESSAGE), BROKER_MAX_EVENT_BYTES: String(300 << 10) }, 60_000);
    client = createBrokerClient({ address: broker.address, channelOptions: { "grpc.max_receive_message_length": MAX_MESSAGE } });
    const raw = new RawClient(broker.address);
    for (let i = 0; i < EVENT_COUNT; i++) {
      const res = await raw.unary("/qingyu.broker.v1.EventBrokerService/Publish", bigEvent(i));
      assert.equal(res.code, status.OK, res.details);
    }
    raw.close();
  });
  after(async () => {
    client.close();
    assert.equal((await broker.stop()).code, 0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("QueryEvents with the default page size stops each page early and continues with its token", async () => {
    const seen: string[] = [];
    let pages = 0;
    for await (const page of client.queryEvents({ sources: [SOURCE] })) {
      pages++;
      assert.ok(page.events.length > 0 && page.events.length < EVENT_COUNT, `a page of ${page.events.length}`);
      seen.push(...page.events.map((e) => e.position));
    }
    assert.equal(seen.length, EVENT_COUNT);
    assert.equal(new Set(seen).size, EVENT_COUNT);
    assert.ok(pages >= 3, `${pages} pages`);
    const newest = await client.queryPage({ sources: [SOURCE] }, { newestFirst: true });
    assert.ok(newest.nextPageToken !== "" && newest.events.length < EVENT_COUNT);
  });

  it("Replay and Subscribe send every large event", async () => {
    let replayed = 0;
    for await (const e of client.replay({ sources: [SOURCE] })) replayed += e.source === SOURCE ? 1 : 0;
    assert.equal(replayed, EVENT_COUNT);
    let delivered = 0;
    for await (const e of client.subscribe({ sources: [SOURCE] }, { from: "beginning" })) if (++delivered === EVENT_COUNT && e) break;
    assert.equal(delivered, EVENT_COUNT);
  });

  it("ListDeadLetters pages fit too", async () => {
    await client.groups.create({ name: "pages", filter: { sources: [SOURCE] }, start: "beginning" });
    const consumer = client.consume("pages", () => {
      throw new RejectError("too big to handle");
    });
    for (;;) {
      const { stats } = await client.groups.get("pages");
      if (stats.deadLetters === BigInt(EVENT_COUNT)) break;
      await sleep(100);
    }
    await consumer.stop();
    const letters = [];
    for await (const l of client.groups.deadLetters("pages")) letters.push(l.position);
    assert.equal(new Set(letters).size, EVENT_COUNT);
  });
});
