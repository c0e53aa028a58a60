// Consumer groups shared by two broker replicas (one nats-server, one store): an operator's change
// on one replica is never undone by the other's progress, and a deleted group stays deleted.
// Regression tests for issue 10, item 1.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { GroupRecordSchema } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { BrokerError, Code, ErrorReason, TargetType, newEvent, type Event } from "../../sdk/src/index.js";
import type { TestBroker } from "../helpers/broker.js";
import { startReplicas, type Replicas } from "../helpers/replicas.js";

const like = (user: string, source: string) => newEvent("like.added", { userId: user, targetType: TargetType.BOOK, targetId: "b1" }, { source });

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const notFound = (err: unknown) => err instanceof BrokerError && err.code === Code.NOT_FOUND && err.reason === ErrorReason.GROUP_NOT_FOUND;

describe("consumer groups shared by two replicas", () => {
  let a: TestBroker;
  let b: TestBroker;
  let replicas: Replicas;
  before(async () => void ({ a, b } = replicas = await startReplicas()));
  after(() => replicas.close());

  /** The definition as stored, read straight from the shared store. */
  async function stored(name: string) {
    const value = await a.broker.store.kvGet(`group/${name}`);
    return value && fromBinary(GroupRecordSchema, value).group;
  }

  /** Waits until B's member of `name` has acknowledged `n` events, then has B write its progress. */
  async function ackedOnB(name: string, n: number): Promise<void> {
    const runtime = await b.broker.groups.find(name);
    await until(() => runtime.memberList.reduce((sum, m) => sum + m.acked, 0) >= n, `${n} acks on b`);
    await runtime.flush();
  }

  it("keeps an update made on A after B acknowledges and writes its progress, and B takes it up", async () => {
    await a.client.groups.create({ name: "upd", filter: { sources: ["upd-svc"] }, start: "now", ackDeadlineMs: 10_000 });
    const got: Event[] = [];
    const c = b.client.consume("upd", (e) => void got.push(e), { concurrency: 4 });
    try {
      await b.broker.groups.find("upd");
      await a.client.publish(like("u1", "upd-svc"));
      await until(() => got.length === 1, "first event on b");
      await ackedOnB("upd", 1);
      await a.client.groups.update({ name: "upd", filter: { sources: ["upd-svc"] }, ackDeadlineMs: 20_000 });
      // B still runs on the old definition; its member acknowledges and its progress is written.
      await a.client.publish(like("u2", "upd-svc"));
      await until(() => got.length === 2, "second event on b");
      await ackedOnB("upd", 2);
      const def = await stored("upd");
      assert.equal(def?.ackDeadline && durationMs(def.ackDeadline), 20_000, "B's progress overwrote A's update");
      // Within the sync interval B takes the new definition up (the timer's work, done at once here).
      await b.broker.groups.sync();
      const onB = await b.client.groups.get("upd");
      assert.equal(onB.group.ackDeadline && durationMs(onB.group.ackDeadline), 20_000);
      await ackedOnB("upd", 2);
      assert.equal((await stored("upd"))?.ackDeadline && durationMs((await stored("upd"))!.ackDeadline!), 20_000);
    } finally {
      await c.stop();
    }
  });

  it("keeps a group deleted on A deleted on both, however B's member answers, and ends members on both with NOT_FOUND", async () => {
    await a.client.groups.create({ name: "del", filter: { sources: ["del-svc"] }, start: "now" });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: string[] = [];
    const onB = b.client.consume("del", async (e) => {
      seen.push(e.id);
      await gate;
    }, { concurrency: 4, reconnect: false });
    const onA = a.client.consume("del", () => gate, { concurrency: 1, reconnect: false });
    let bEnded = false;
    onB.done.catch(() => (bEnded = true));
    try {
      const runtime = await b.broker.groups.find("del");
      await a.client.publishBatch([like("d1", "del-svc"), like("d2", "del-svc")]);
      await until(() => seen.length >= 1, "a delivery to b's member");
      await a.client.groups.delete("del");
      await assert.rejects(onA.done, notFound);
      // B has not noticed yet: its member answers and B writes what it has (unless B noticed first).
      release();
      await until(() => bEnded || runtime.memberList.reduce((sum, m) => sum + m.acked, 0) >= seen.length, "b's member acknowledged");
      await runtime.flush();
      // Both replicas look at the store again (what their sync timers do).
      await b.broker.groups.sync();
      await a.broker.groups.sync();
      assert.equal(await stored("del"), undefined, "the definition came back");
      assert.deepEqual(await a.broker.store.kvKeys("progress/del"), []);
      await assert.rejects(a.client.groups.get("del"), notFound);
      await assert.rejects(b.client.groups.get("del"), notFound);
      await assert.rejects(onB.done, notFound);
    } finally {
      release();
      await Promise.all([onA.stop(), onB.stop()]);
    }
  });
});

describe("consumer groups on two replicas with members slower than JetStream's ack wait", () => {
  let a: TestBroker;
  let b: TestBroker;
  let replicas: Replicas;
  // A small window, so that most events wait outside it far longer than the ack wait.
  before(async () => void ({ a, b } = replicas = await startReplicas({ BROKER_GROUP_WINDOW_EVENTS: "4" })));
  after(() => replicas.close());

  it("delivers every event exactly once when no member fails", async () => {
    // Ack deadline 1 s: JetStream's ack wait is 2 x 1 s + 5 s = 7 s; two members taking 150 ms an
    // event, one at a time, need about 8 s for 110 events.
    await a.client.groups.create({ name: "slow", filter: { sources: ["slow-svc"] }, start: "now", ackDeadlineMs: 1_000 });
    const deliveries = new Map<string, number>();
    const attempts: number[] = [];
    const handler = async (e: Event, ctx: { attempt: number }) => {
      deliveries.set(e.id, (deliveries.get(e.id) ?? 0) + 1);
      attempts.push(ctx.attempt);
      await new Promise((r) => setTimeout(r, 150));
    };
    const ca = a.client.consume("slow", handler, { concurrency: 1 });
    const cb = b.client.consume("slow", handler, { concurrency: 1 });
    try {
      await b.broker.groups.find("slow");
      const events = Array.from({ length: 110 }, (_, i) => like(`s${i}`, "slow-svc"));
      await a.client.publishBatch(events);
      await until(() => deliveries.size === events.length, "every event delivered", 60_000);
      // Settle: whatever was going to come back after the ack wait has had the time to.
      await until(async () => (await a.client.groups.get("slow")).stats.backlog === 0n, "backlog drained", 30_000);
      const twice = [...deliveries].filter(([, n]) => n > 1);
      assert.deepEqual(twice, [], "delivered more than once");
      assert.ok(attempts.every((n) => n === 1), "an attempt after the first");
    } finally {
      await Promise.all([ca.stop(), cb.stop()]);
    }
  });
});

describe("consumer groups on two replicas when the members of one replica leave", () => {
  let a: TestBroker;
  let b: TestBroker;
  let replicas: Replicas;
  // Groups stay loaded: what A holds is not let go by A putting the group to rest.
  before(async () => void ({ a, b } = replicas = await startReplicas({ BROKER_GROUP_IDLE_MS: "600000" })));
  after(() => replicas.close());

  it("hands the events that replica held to the other replica's members, each delivered once", async () => {
    // Ack deadline 60 s: JetStream would send an event A holds again only after its ack wait (125 s).
    await a.client.groups.create({ name: "handover", filter: { sources: ["handover-svc"] }, start: "now", ackDeadlineMs: 60_000 });
    const deliveries = new Map<string, string[]>();
    const seen = (replica: string) => (e: Event) => void deliveries.set(e.id, [...(deliveries.get(e.id) ?? []), replica]);
    let letGo!: () => void;
    const held = new Promise<void>((r) => (letGo = r));
    const onA = a.client.consume("handover", async (e) => (seen("a")(e), await held), { concurrency: 1 });
    let onB: { stop(): Promise<void> } | undefined;
    try {
      const runtimeA = await a.broker.groups.find("handover");
      await until(() => runtimeA.memberList.length === 1, "a's member joined");
      const events = Array.from({ length: 20 }, (_, i) => like(`h${i}`, "handover-svc"));
      await a.client.publishBatch(events);
      // A's member has one event; A holds more in its window, waiting for a member.
      await until(() => deliveries.size === 1 && runtimeA.windowSize > 1, "a holds events beyond the one delivered");
      const heldByA = runtimeA.windowSize - 1;
      letGo();
      await onA.stop();
      onB = b.client.consume("handover", async (e) => seen("b")(e), { concurrency: 4 });
      await until(() => deliveries.size === events.length, "every event delivered", 30_000);
      assert.equal(runtimeA.windowSize, 0, "a holds nothing without members");
      const twice = [...deliveries].filter(([, at]) => at.length > 1);
      assert.deepEqual(twice, [], "delivered more than once");
      assert.ok([...deliveries.values()].filter(([at]) => at === "b").length >= heldByA, "b got what a held");
    } finally {
      letGo();
      await Promise.all([onA.stop(), onB?.stop()]);
    }
  });
});
