// Live subscriptions through real NATS (a nats-server started by the test) and real gRPC.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connect } from "@nats-io/transport-node";
import { SubscribeRequestSchema, SubscribeResponseSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import {
  BrokerError,
  Code,
  TargetType,
  eventFromBinary,
  newEvent,
  type BrokerClient,
  type Event,
  type SubscribeOptions,
  type SubscriptionFilter,
} from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { RawClient } from "../helpers/raw-client.js";

const like = (user: string, source = "social-svc", subject = "book/b1") =>
  newEvent("like.added", { userId: user, targetType: TargetType.BOOK, targetId: "b1" }, { source, subject });
const comment = (user: string) =>
  newEvent("comment.created", { userId: user, targetType: TargetType.BOOK, targetId: "b1", commentId: `c-${user}`, content: "好" }, { source: "social-svc", subject: "book/b2" });
const deposit = (user: string) =>
  newEvent("deposit.created", { depositId: `d-${user}`, userId: user, amount: { currencyCode: "CNY", minorUnits: 600n }, paymentMethod: 2 }, { source: "finance-svc", subject: `user/${user}` });

/** Collects a subscription in the background until `count` events or the abort. */
function collect(client: BrokerClient, filter: SubscriptionFilter, options: SubscribeOptions & { count: number }) {
  const ac = new AbortController();
  const events: Event[] = [];
  let caughtUp!: () => void;
  const ready = new Promise<void>((r) => (caughtUp = r));
  const done = (async () => {
    for await (const e of client.subscribe(filter, { ...options, signal: ac.signal, onCaughtUp: () => caughtUp() })) {
      events.push(e);
      if (events.length >= options.count) ac.abort();
    }
  })();
  return { events, ready, done, stop: () => ac.abort() };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const ids = (events: Event[]) => events.map((e) => e.id);

describe("Subscribe over NATS", () => {
  let nats: NatsServer;
  let a: TestBroker;
  before(async () => {
    nats = await startNatsServer();
    a = await startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_SUBJECT_PREFIX: "qa" });
  });
  after(async () => {
    await a.close();
    await nats[Symbol.asyncDispose]();
  });

  it("delivers history, then caught_up, then live events, filtered by type glob, domain, source and subject", async () => {
    const history = [like("h1"), comment("h2"), deposit("h3"), like("h4", "other-svc", "book/b9")];
    await a.client.publishBatch(history);
    const cases: [SubscriptionFilter, (e: Event) => boolean][] = [
      [{ types: ["comment.*"] }, (e) => e.type.startsWith("comment.")],
      [{ domains: ["finance"] }, (e) => e.type === "deposit.created"],
      [{ sources: ["other-svc"] }, (e) => e.source === "other-svc"],
      [{ subject: "book/*" }, (e) => e.subject.startsWith("book/")],
      [{ types: ["like.added"], subject: "book/b1" }, (e) => e.type === "like.added" && e.subject === "book/b1"],
    ];
    const live = [like("l1"), comment("l2"), deposit("l3"), like("l4", "other-svc", "book/b9")];
    const subs = cases.map(([filter, keep]) => ({ keep, sub: collect(a.client, filter, { from: "beginning", count: [...history, ...live].filter(keep).length }) }));
    await Promise.all(subs.map((s) => s.sub.ready));
    await a.client.publishBatch(live);
    for (const { keep, sub } of subs) {
      await withTimeout(sub.done, 10_000, "subscription");
      assert.deepEqual(ids(sub.events), ids([...history, ...live].filter(keep)));
    }
  });

  it("catches up under concurrent publishing without gap or duplicate", async () => {
    const total = 4000;
    const pub = a.client.publisher({ window: 200 });
    const published: string[] = [];
    let half!: () => void;
    const halfway = new Promise<void>((r) => (half = r));
    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        const e = like(`c${i}`, "catchup-svc");
        published.push(e.id);
        void pub.publish(e);
        if (i === total / 2) half();
        if (i % 100 === 0) await new Promise((r) => setImmediate(r));
      }
      await pub.close();
    })();
    await halfway;
    const sub = collect(a.client, { sources: ["catchup-svc"] }, { from: "beginning", count: total });
    await publishing;
    await withTimeout(sub.done, 30_000, `catch-up (${sub.events.length} of ${total})`);
    assert.equal(sub.events.length, total);
    assert.deepEqual(ids(sub.events), published);
  });

  it("resumes after a position, and from a time", async () => {
    const first = like("r1", "resume-svc");
    const second = like("r2", "resume-svc");
    const a1 = await a.client.publish(first);
    await a.client.publish(second);
    const after = collect(a.client, { sources: ["resume-svc"] }, { from: { afterPosition: a1.position }, count: 1 });
    await withTimeout(after.done, 5_000, "resume");
    assert.deepEqual(ids(after.events), [second.id]);
    const fromTime = collect(a.client, { sources: ["resume-svc"] }, { from: a1.recordedTime!, count: 2 });
    await withTimeout(fromTime.done, 5_000, "from time");
    assert.deepEqual(ids(fromTime.events), [first.id, second.id]);
  });

  it("rejects a bad filter or start with INVALID_ARGUMENT", async () => {
    const sub = collect(a.client, { types: ["nope.*"] }, { count: 1 });
    await assert.rejects(sub.done, (err: unknown) => err instanceof BrokerError && err.code === Code.INVALID_ARGUMENT);
    const bad = collect(a.client, {}, { from: { afterPosition: "xyz" }, count: 1 });
    await assert.rejects(bad.done, (err: unknown) => err instanceof BrokerError && err.code === Code.INVALID_ARGUMENT);
  });

  it("publishes each event on <prefix>.<domain>.<type> with id, type and position headers", async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const sub = nc.subscribe("qa.social.>", { max: 1 });
      await nc.flush();
      const e = like("raw-nats");
      const ack = await a.client.publish(e);
      for await (const msg of sub) {
        assert.equal(msg.subject, "qa.social.like.added");
        assert.equal(msg.headers?.get("Event-Id"), e.id);
        assert.equal(msg.headers?.get("Event-Type"), "like.added");
        assert.equal(msg.headers?.get("Event-Position"), ack.position);
        const decoded = eventFromBinary(msg.data);
        assert.equal(decoded.id, e.id);
        assert.equal(decoded.position, ack.position);
      }
    } finally {
      await nc.close();
    }
  });

  describe("two replicas on one store and one NATS", () => {
    let b: TestBroker;
    before(async () => (b = await startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_SUBJECT_PREFIX: "qa" }, a.dataDir)));
    after(() => b.close({ keepData: true }));

    it("delivers across replicas in store order, exactly once", async () => {
      const onA = collect(a.client, { sources: ["replica-svc"] }, { count: 600 });
      const onB = collect(b.client, { sources: ["replica-svc"] }, { count: 600 });
      await Promise.all([onA.ready, onB.ready]);
      const pa = a.client.publisher();
      const pb = b.client.publisher();
      await Promise.all(Array.from({ length: 600 }, (_, i) => (i % 2 ? pa : pb).publish(like(`x${i}`, "replica-svc"))));
      await Promise.all([pa.close(), pb.close()]);
      await withTimeout(Promise.all([onA.done, onB.done]), 15_000, "cross-replica delivery");
      for (const sub of [onA, onB]) {
        const positions = sub.events.map((e) => e.position);
        assert.deepEqual([...positions].sort(), positions, "not in store order");
        assert.equal(new Set(positions).size, 600, "duplicate or missing");
      }
      assert.deepEqual(ids(onA.events), ids(onB.events));
    });

    it("loses nothing when nats-server is killed and restarted mid-stream", async () => {
      const total = 900;
      const onB = collect(b.client, { sources: ["outage-svc"] }, { count: total });
      await onB.ready;
      const sent: string[] = [];
      for (let i = 0; i < total; i++) {
        if (i === 300) await nats.stop("SIGKILL");
        if (i === 600) await nats.restart();
        const e = like(`o${i}`, "outage-svc");
        await a.client.publish(e);
        sent.push(e.id);
      }
      await withTimeout(onB.done, 20_000, `delivery after the outage (${onB.events.length} of ${total})`);
      assert.deepEqual(ids(onB.events), sent);
    });
  });

  it("cuts off a subscriber that stops reading with RESOURCE_EXHAUSTED and its resume position, others unaffected", async () => {
    await using small = await startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_SUBSCRIBER_BUFFER: "50" });
    const raw = new RawClient(small.address);
    // Listeners of the broker itself (the JetStream mirror of consumer groups follows the hub too).
    const baseline = small.broker.hub.listenerCount;
    const healthy = collect(small.client, { sources: ["stall-svc"] }, { count: 400 });
    await healthy.ready;
    const req = toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { filter: { sources: ["stall-svc"] }, start: { case: "fromNow", value: true } }));
    const stalled = raw.stalledStream("/qingyu.broker.v1.EventBrokerService/Subscribe", req);
    await new Promise((r) => setTimeout(r, 200));
    const pub = small.client.publisher();
    const big = "x".repeat(4000);
    await Promise.all(Array.from({ length: 400 }, (_, i) => pub.publish(newEvent("comment.created", { userId: `s${i}`, targetType: TargetType.BOOK, targetId: "b", commentId: `c${i}`, content: big }, { source: "stall-svc" }))));
    await pub.close();
    await withTimeout(healthy.done, 15_000, "healthy subscriber");
    assert.equal(healthy.events.length, 400);
    // The broker ended the stalled stream while it was not reading; reading now drains what was
    // in flight and shows the status.
    stalled.resume();
    const result = await withTimeout(stalled.status, 15_000, "stalled subscriber cut-off");
    assert.equal(result.code, Code.RESOURCE_EXHAUSTED, result.details);
    assert.equal(result.reason, "ERROR_REASON_SLOW_CONSUMER");
    const resume = result.details.match(/position '([0-9a-f]{16})'/)?.[1];
    assert.ok(resume, result.details);
    assert.ok(result.responses.length < 400, `the stalled subscriber got all ${result.responses.length} events`);
    const delivered = result.responses.map((b) => fromBinary(SubscribeResponseSchema, b)).filter((r) => r.kind.case === "event");
    const lastDelivered = delivered.at(-1)?.kind.value as Event | undefined;
    assert.ok(!lastDelivered || lastDelivered.position <= resume, "resume position is before an event already sent");
    // Both subscriptions are over: no listener may be left behind on the hub.
    const deadline = Date.now() + 2_000;
    while (small.broker.hub.listenerCount > baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(small.broker.hub.listenerCount, baseline);
    raw.close();
  });
});
