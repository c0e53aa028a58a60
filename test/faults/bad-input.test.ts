// Hostile input against a broker process: random bytes to every RPC, truncated and oversized
// messages, every envelope field wrong in turn, unknown oneof cases, and 10,000 streams opened and
// abandoned. Each gets a clear status (never INTERNAL), the broker stays up, memory returns.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { EventBrokerService, PublishRequestSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { ConsumerGroupService } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { eventToBinary, type Event } from "../../sdk/src/index.js";
import { liveMemoryMiB, spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { prng } from "../helpers/prng.js";
import { RawClient } from "../helpers/raw-client.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { varint } from "../helpers/varint.js";


const NEVER = new Set([status.INTERNAL, status.UNKNOWN, status.UNAVAILABLE, -1]);


describe("bad input against a broker process", () => {
  let dir: string;
  let broker: BrokerProcess;
  let raw: RawClient;
  const seed = Number(process.env["FUZZ_SEED"] ?? 20261125);
  const random = prng(seed);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fault-input-"));
    broker = await spawnBroker({ BROKER_DATA_DIR: dir, BROKER_METRICS_PORT: "0", BROKER_MAX_MESSAGE_BYTES: String(1 << 20), BROKER_MAX_EVENT_BYTES: String(64 << 10), BROKER_SQLITE_SYNC: "normal" }, undefined, ["--expose-gc"]);
    raw = new RawClient(broker.address, { "grpc.max_send_message_length": 8 << 20 });
  });
  after(async () => {
    raw.close();
    const { code } = await broker.stop();
    assert.equal(code, 0, "the broker did not shut down cleanly");
    rmSync(dir, { recursive: true, force: true });
  });

  const methods = [...EventBrokerService.methods, ...ConsumerGroupService.methods];

  it(`answers random bytes on every RPC with a clear status (seed ${seed})`, async () => {
    const seen = new Map<string, Set<number>>();
    for (const m of methods) {
      const path = `/${m.parent.typeName}/${m.name}`;
      for (let i = 0; i < 60; i++) {
        const body = bytes(1 + Math.floor(random() * 300));
        const streaming = m.methodKind !== "unary";
        const res = streaming ? await raw.stream(path, [body], m.methodKind === "server_streaming") : await raw.unary(path, body);
        assert.ok(!NEVER.has(res.code), `${m.name} answered ${status[res.code]} (${res.details}) to ${Buffer.from(body).toString("hex")}`);
        (seen.get(m.name) ?? seen.set(m.name, new Set()).get(m.name)!).add(res.code);
      }
    }
    // Random bytes rarely decode, and never as a valid event: INVALID_ARGUMENT is the common answer.
    assert.ok(seen.get("Publish")?.has(status.INVALID_ARGUMENT));
  });

  it("answers every truncation of a valid Publish, and oversized messages", async () => {
    const full = toBinary(PublishRequestSchema, create(PublishRequestSchema, { event: sampleEvent("book.purchased") }));
    for (let cut = 0; cut < full.length; cut += 3) {
      const res = await raw.unary("/qingyu.broker.v1.EventBrokerService/Publish", full.subarray(0, cut));
      assert.ok(res.code === status.INVALID_ARGUMENT, `a ${cut}-byte prefix got ${status[res.code]}: ${res.details}`);
    }
    const huge = await raw.unary("/qingyu.broker.v1.EventBrokerService/Publish", new Uint8Array(2 << 20));
    assert.equal(huge.code, status.RESOURCE_EXHAUSTED);
    const big = sampleEvent("like.added");
    big.metadata = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, "x".repeat(1_024)]));
    const tooLarge = await raw.unary("/qingyu.broker.v1.EventBrokerService/Publish", toBinary(PublishRequestSchema, create(PublishRequestSchema, { event: big })));
    assert.equal(tooLarge.code, status.RESOURCE_EXHAUSTED);
    assert.equal(tooLarge.reason, "ERROR_REASON_TOO_LARGE");
  });

  it("names each envelope field when it is wrong, one at a time", async () => {
    const cases: [string, (e: Event) => void][] = [
      ["id", (e) => (e.id = "")],
      ["id", (e) => (e.id = "6ba7b810-9dad-11d1-80b4-00c04fd430c8")],
      ["type", (e) => (e.type = "like.exploded")],
      ["type", (e) => (e.type = "comment.created")],
      ["source", (e) => (e.source = "")],
      ["source", (e) => (e.source = "s".repeat(300))],
      ["subject", (e) => (e.subject = "x".repeat(600))],
      ["time", (e) => (e.time = { ...e.time!, nanos: -1 })],
      ["recorded_time", (e) => (e.recordedTime = e.time)],
      ["position", (e) => (e.position = "0000000000000001")],
      ["correlation_id", (e) => (e.correlationId = "c".repeat(200))],
      ["causation_id", (e) => (e.causationId = "c".repeat(200))],
      ["traceparent", (e) => (e.traceparent = "not-a-traceparent")],
      ['metadata["bad key"]', (e) => (e.metadata = { "bad key": "v" })],
      ["data_version", (e) => (e.dataVersion = 99)],
      ["payload", (e) => (e.payload = { case: undefined })],
    ];
    for (const [field, mutate] of cases) {
      const e: Event = sampleEvent("like.added");
      mutate(e);
      const res = await raw.unary("/qingyu.broker.v1.EventBrokerService/Publish", toBinary(PublishRequestSchema, create(PublishRequestSchema, { event: e })));
      assert.equal(res.code, status.INVALID_ARGUMENT, `${field}: ${res.details}`);
      assert.equal(res.reason, "ERROR_REASON_INVALID_EVENT");
      assert.ok(res.details.includes(`'event.${field}'`), `${field} not named in: ${res.details}`);
    }
  });

  it("refuses unknown oneof cases in the envelope", async () => {
    for (const fieldNo of [99, 999, 5000, 536_870_911]) {
      const e: Event = sampleEvent("like.added");
      e.payload = { case: undefined };
      const eventBytes = new Uint8Array([...eventToBinary(e), ...varint(fieldNo * 8 + 2), 0]);
      const res = await raw.unary("/qingyu.broker.v1.EventBrokerService/Publish", new Uint8Array([0x0a, ...varint(eventBytes.length), ...eventBytes]));
      assert.equal(res.code, status.INVALID_ARGUMENT, `field ${fieldNo}: ${res.details}`);
    }
  });

  it("survives 10,000 streams opened and abandoned, and its memory returns to baseline", async () => {
    const baseline = await liveMemoryMiB(broker);
    const paths = ["/qingyu.broker.v1.EventBrokerService/Subscribe", "/qingyu.broker.v1.EventBrokerService/Replay", "/qingyu.broker.v1.EventBrokerService/PublishStream", "/qingyu.broker.v1.ConsumerGroupService/Consume"];
    const frame = Buffer.from([0, 0, 0, 0, 0]); // one empty message
    for (let batch = 0; batch < 20; batch++) {
      // A fresh connection per batch, dropped without closing its 500 streams.
      const session = connect(`http://${broker.address}`);
      session.on("error", () => undefined);
      await Promise.all(
        Array.from({ length: 500 }, (_, i) => {
          const req = session.request({ ":method": "POST", ":path": paths[i % paths.length] as string, "content-type": "application/grpc", te: "trailers" });
          req.on("error", () => undefined);
          req.write(frame);
          return new Promise<void>((r) => setTimeout(r, 1));
        }),
      );
      session.destroy();
    }
    await new Promise((r) => setTimeout(r, 2_000));
    const after = await liveMemoryMiB(broker);
    assert.ok(after - baseline < 15, `live memory grew from ${baseline.toFixed(1)} to ${after.toFixed(1)} MiB`);
    const health = await raw.unary("/grpc.health.v1.Health/Check", new Uint8Array());
    assert.equal(health.code, status.OK);
  });
});

