// Consumer groups hold their memory bounds whatever clients do (issue 11, items 1 and 2): many
// groups created from the beginning of a log with events of ~1 MiB, a group limit, a restart with
// many groups, and a member that pauses its stream while its deliveries expire again and again.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { ConsumeRequestSchema, type ConsumeRequest } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { Code, createBrokerClient, newEvent, TargetType, type BrokerClient, type Event } from "../../sdk/src/index.js";
import { rssMiB, spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { until } from "../helpers/until.js";

const MiB = 2 ** 20;

/** An event carrying `bytes` of a field the schema does not know, as a careless producer may send. */
function heavy(source: string, n: number, bytes: number): Event {
  const e = newEvent("like.added", { userId: `u${n}`, targetType: TargetType.BOOK, targetId: "b" }, { source });
  e.$unknown = [{ no: 900, wireType: WireType.LengthDelimited, data: new Uint8Array([...varint(bytes), ...new Uint8Array(bytes).fill(120)]) }];
  return e;
}

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n > 127; n >>>= 7) out.push((n & 127) | 128);
  out.push(n);
  return out;
}

/** How long these tests wait for the broker, and how often they look (groups of ~1 MiB events are slow). */
const WAIT = { timeoutMs: 60_000, everyMs: 50 };

const settle = () => new Promise((r) => setTimeout(r, 1_000));

describe("consumer group bounds", () => {
  let dir: string;
  let broker: BrokerProcess;
  let client: BrokerClient;
  const env = () => ({ BROKER_DATA_DIR: dir, BROKER_SQLITE_SYNC: "normal", BROKER_MAX_GROUPS: "80", BROKER_GROUP_IDLE_MS: "300" });
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fault-groups-"));
    broker = await spawnBroker(env());
    client = createBrokerClient({ address: broker.address });
  });
  after(async () => {
    // A broker that did not start leaves no directory behind either.
    client?.close();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("holds windows in bytes, loads groups lazily, limits their number and restarts listening with many", async () => {
    const EVENT = 900 * 1024;
    // 33 events of ~0.9 MiB among 300 small ones, at the start of the log.
    for (let i = 0; i < 33; i++) await client.publishBatch([heavy("big-svc", i, EVENT), ...Array.from({ length: 9 }, (_, j) => heavy("big-svc", 1_000 + i * 10 + j, 100))]);
    await settle();
    const base = rssMiB(broker);

    // 60 groups from the beginning, nobody consuming: each holds its definition only.
    for (let i = 0; i < 60; i++) await client.groups.create({ name: `lazy-${i}`, filter: { sources: ["big-svc"] }, start: "beginning" });
    await settle();
    const created = rssMiB(broker);
    console.log(`RSS with 33 × 0.9 MiB events stored: ${base.toFixed(0)} MiB; after 60 groups from the beginning: ${created.toFixed(0)} MiB`);
    // Windows of 10,000 events whatever their size held ~30 MiB per group here: 1.8 GB.
    assert.ok(created - base < 150, `60 groups nobody consumes took ${(created - base).toFixed(0)} MiB`);
    assert.equal((await client.groups.get("lazy-0")).stats.backlog, 330n);

    // Members that take everything and answer nothing (until released): each window stops at its
    // byte bound (8 MiB; the last event admitted may pass it), whatever max_in_flight allows.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const holding = [0, 0, 0, 0, 0];
    const consumers = holding.map((_, i) =>
      client.consume(`lazy-${i}`, (e) => {
        holding[i] = (holding[i] ?? 0) + (e.$unknown?.[0]?.data.length ?? 0);
        return released;
      }, { concurrency: 200, reconnect: false }),
    );
    for (let i = 0; i < 5; i++) await until(async () => (await client.groups.get(`lazy-${i}`)).stats.inFlight > 0n, `deliveries to lazy-${i}`, WAIT);
    await settle();
    const consuming = rssMiB(broker);
    console.log(`RSS with 5 members holding full windows: ${consuming.toFixed(0)} MiB; bytes held: ${holding.map((b) => (b / MiB).toFixed(1)).join(", ")} MiB`);
    for (const [i, bytes] of holding.entries()) {
      assert.ok(bytes > 0 && bytes <= 8 * MiB + EVENT + 4096, `lazy-${i} has ${(bytes / MiB).toFixed(1)} MiB in flight`);
      // Nothing more arrives: the window is full, not the member.
      assert.ok(Number((await client.groups.get(`lazy-${i}`)).stats.inFlight) < 200);
    }
    assert.ok(consuming - base < 150 + 5 * 2 * 9, `5 consumed groups took ${(consuming - base).toFixed(0)} MiB`);
    release();
    await Promise.all(consumers.map((c) => c.stop()));

    // The limit: 80 groups.
    for (let i = 60; i < 80; i++) await client.groups.create({ name: `lazy-${i}`, start: "beginning" });
    await assert.rejects(client.groups.create({ name: "one-too-many" }), (err: { code: Code; message: string }) => {
      assert.equal(err.code, Code.RESOURCE_EXHAUSTED);
      assert.match(err.message, /BROKER_MAX_GROUPS/);
      return true;
    });
    await client.groups.delete("lazy-79");
    await client.groups.create({ name: "one-too-many", start: "beginning" });

    // A restart with 80 groups: the broker listens and serves at once; groups work when joined.
    client.close();
    await broker.stop();
    broker = await spawnBroker(env());
    client = createBrokerClient({ address: broker.address });
    await client.publish(heavy("after-restart", 0, 10));
    assert.equal((await client.groups.list()).length, 80);
    const seen: Event[] = [];
    const c = client.consume("lazy-7", (e) => void seen.push(e), { concurrency: 16 });
    await until(() => seen.length === 330, "every event of lazy-7 after the restart", WAIT);
    await c.stop();
    await client.groups.delete("lazy-7");
    assert.equal((await client.groups.list()).length, 79);
  });

  it("does not queue deliveries again for a member that does not read, and delivers them once it does", async () => {
    const COUNT = 40;
    await client.groups.create({ name: "paused", filter: { sources: ["paused-svc"] }, start: "beginning", ackDeadlineMs: 100, retry: { initialDelayMs: 1, multiplier: 1, jitter: 0, maxAttempts: 0 } });
    await client.publishBatch(Array.from({ length: COUNT }, (_, i) => heavy("paused-svc", i, 100 * 1024)));
    const stalled = stalledMember(broker.address, "paused", 16);
    await until(async () => (await client.groups.get("paused")).stats.members.length === 1, "the paused member joined", WAIT);
    // Every 100 ms its 16 deliveries expire and go out again: 16 MB/s queued for it before the fix.
    await new Promise((r) => setTimeout(r, 4_000));
    const early = rssMiB(broker);
    await new Promise((r) => setTimeout(r, 8_000));
    const late = rssMiB(broker);
    console.log(`RSS with a paused member: ${early.toFixed(0)} MiB after 4 s, ${late.toFixed(0)} MiB after 12 s`);
    assert.ok(late - early < 40, `broker RSS grew by ${(late - early).toFixed(0)} MiB in 8 s of a paused member`);
    const member = (await client.groups.get("paused")).stats.members[0];
    assert.ok((member?.inFlight ?? 0) <= 16, `the paused member has ${member?.inFlight} in flight`);

    // It goes away without ever reading; another member gets every event.
    stalled.close();
    const got = new Set<string>();
    const c = client.consume("paused", (e) => void got.add(e.id), { concurrency: 16 });
    await until(() => got.size === COUNT, "every event delivered to the reading member", WAIT);
    await until(async () => (await client.groups.get("paused")).stats.backlog === 0n, "nothing left", WAIT);
    await c.stop();
    await client.groups.delete("paused"); // room under BROKER_MAX_GROUPS for the next test
  });

  it("ends a member that keeps sending answers and never reads the replies", async () => {
    await client.groups.create({ name: "deaf", filter: { sources: ["deaf-svc"] } });
    const deaf = stalledMember(broker.address, "deaf", 1);
    await until(async () => (await client.groups.get("deaf")).stats.members.length === 1, "the member joined", WAIT);
    // Acknowledgements of deliveries it never had: each is answered `stale`, and none is read.
    // 20,000 replies pass what HTTP/2 flow control and grpc-js's queue hold (a few thousand).
    for (let i = 0; i < 400; i++) deaf.send(create(ConsumeRequestSchema, { kind: { case: "ack", value: { deliveryIds: Array.from({ length: 50 }, (_, j) => `x${i}.${j}`) } } }));
    await until(() => broker.logs.some((l) => String(l["detail"] ?? "").includes("does not read its stream")), "the member ended as too slow", WAIT);
    const ended = broker.logs.find((l) => String(l["detail"] ?? "").includes("does not read its stream"));
    assert.equal(ended?.["code"], "RESOURCE_EXHAUSTED");
    await until(async () => (await client.groups.get("deaf")).stats.members.length === 0, "the member gone", WAIT);
    deaf.close();
  });
});

/**
 * A Consume stream over plain node:http2 that sends its join and then never reads: HTTP/2 flow
 * control pushes back on the broker, as a member whose process hangs would.
 */
function stalledMember(address: string, group: string, maxInFlight: number): { send: (req: ConsumeRequest) => void; close: () => void } {
  const session = connect(`http://${address}`);
  session.on("error", () => undefined);
  const req = session.request({ ":method": "POST", ":path": "/qingyu.broker.v1.ConsumerGroupService/Consume", "content-type": "application/grpc", te: "trailers" });
  req.on("error", () => undefined);
  const send = (message: ConsumeRequest) => {
    const body = toBinary(ConsumeRequestSchema, message);
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    req.write(frame);
  };
  send(create(ConsumeRequestSchema, { kind: { case: "join", value: { group, memberId: "paused-member", maxInFlight } } }));
  req.pause();
  return { send, close: () => session.destroy() };
}
