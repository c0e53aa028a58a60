// https://github.com/qingyu/event-broker/issues/11 (5): a stream never exceeds the message limit.
// Events near BROKER_MAX_EVENT_BYTES reach Replay and Subscribe whole, each in a message under
// BROKER_MAX_MESSAGE_BYTES; an event stored under a larger limit than the broker has now ends
// Replay, Subscribe and QueryEvents with TOO_LARGE, never with grpc-js's bare "Sent message larger
// than max" (no reason) or a hang.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { ErrorReason } from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { createBrokerClient, eventToBinary, isBrokerError, type BrokerClient } from "../../sdk/src/index.js";
import { spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { RawClient } from "../helpers/raw-client.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { varint } from "../helpers/varint.js";
import { within } from "../helpers/within.js";

const MAX_MESSAGE = 1 << 20;
/** The largest event the configuration admits with this message limit. */
const MAX_EVENT = MAX_MESSAGE - 4_096;
const EVENT_COUNT = 3;
const SOURCE = "too-large-test";
const STEP_MS = 30_000;

/** A PublishRequest for a valid like.added of exactly `size` encoded bytes (an unknown field the broker keeps pads it). */
function eventOfSize(i: number, size: number): Uint8Array {
  const e = sampleEvent("like.added");
  e.id = e.id.slice(0, -4) + String(1000 + i);
  e.source = SOURCE;
  const base = eventToBinary(e);
  const tag = varint(1000 * 8 + 2);
  // The padding's length prefix takes 3 bytes for any length from 16 KiB to 2 MiB.
  const padding = new Uint8Array(size - base.length - tag.length - 3);
  const eventBytes = new Uint8Array([...base, ...tag, ...varint(padding.length), ...padding]);
  assert.equal(eventBytes.length, size);
  return new Uint8Array([0x0a, ...varint(eventBytes.length), ...eventBytes]);
}

/** Reads `events` to its end (or `count` items) within STEP_MS; returns the count or the error. */
async function drain(events: AsyncIterable<unknown>, count = Infinity): Promise<{ read: number; error?: unknown }> {
  let read = 0;
  const reading = (async () => {
    try {
      for await (const _ of events) if (++read >= count) break;
      return { read };
    } catch (error) {
      return { read, error };
    }
  })();
  return within(STEP_MS, reading, () => `${read} events read, the stream neither ended nor failed`);
}

/** The events of a query's pages, one by one. */
async function* eventsOf(pages: AsyncIterable<{ events: readonly unknown[] }>): AsyncIterable<unknown> {
  for await (const page of pages) yield* page.events;
}

function assertTooLarge(outcome: { read: number; error?: unknown }, call: string): void {
  const { error } = outcome;
  assert.ok(isBrokerError(error), `${call}: ${outcome.read} events, then ${String(error)}`);
  assert.equal(error.code, status.RESOURCE_EXHAUSTED, `${call}: ${error.message}`);
  assert.equal(error.reason, ErrorReason.TOO_LARGE, `${call}: ${error.message}`);
}

describe("events near the message limit on Replay and Subscribe (issue 11, 5)", () => {
  let dir: string;
  let broker: BrokerProcess;
  let client: BrokerClient;

  const start = async (maxMessage: number, maxEvent: number) => {
    broker = await spawnBroker({ BROKER_DATA_DIR: dir, BROKER_SQLITE_SYNC: "normal", BROKER_MAX_MESSAGE_BYTES: String(maxMessage), BROKER_MAX_EVENT_BYTES: String(maxEvent) }, 60_000);
    client = createBrokerClient({ address: broker.address, channelOptions: { "grpc.max_receive_message_length": 4 * MAX_MESSAGE } });
  };
  const stop = async () => {
    client.close();
    assert.equal((await broker.stop()).code, 0);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fault-too-large-"));
    await start(MAX_MESSAGE, MAX_EVENT);
    const raw = new RawClient(broker.address);
    try {
      for (let i = 0; i < EVENT_COUNT; i++) {
        const res = await raw.unary("/qingyu.broker.v1.EventBrokerService/Publish", eventOfSize(i, MAX_EVENT - i));
        assert.equal(res.code, status.OK, res.details);
      }
    } finally {
      raw.close();
    }
  });
  after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("delivers events of the largest admitted size on Replay, Subscribe and QueryEvents", async () => {
    assert.deepEqual(await drain(client.replay({ sources: [SOURCE] })), { read: EVENT_COUNT });
    assert.deepEqual(await drain(client.subscribe({ sources: [SOURCE] }, { from: "beginning" }), EVENT_COUNT), { read: EVENT_COUNT });
    assert.deepEqual(await drain(eventsOf(client.queryEvents({ sources: [SOURCE] }))), { read: EVENT_COUNT });
  });

  it("ends Replay, Subscribe and QueryEvents with TOO_LARGE for an event stored under a larger limit", async () => {
    await stop();
    await start(MAX_MESSAGE / 2, MAX_MESSAGE / 4);
    assertTooLarge(await drain(client.replay({ sources: [SOURCE] })), "Replay");
    // With reconnect on (the default): the SDK retries RESOURCE_EXHAUSTED for a subscriber too slow,
    // but not TOO_LARGE, which a new stream would meet again.
    assertTooLarge(await drain(client.subscribe({ sources: [SOURCE] }, { from: "beginning" })), "Subscribe");
    assertTooLarge(await drain(eventsOf(client.queryEvents({ sources: [SOURCE] }))), "QueryEvents");
  });
});
