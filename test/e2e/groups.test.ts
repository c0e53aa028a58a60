// The consumer group contract, run in each mode: embedded (no NATS) and with NATS.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  BrokerError,
  Code,
  ErrorReason,
  RejectError,
  RetryLaterError,
  TargetType,
  newEvent,
  type BrokerClient,
  type Consumer,
  type DeliveryContext,
  type Event,
  type EventHandler,
  type GroupDefinition,
} from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startReplicas, type Replicas } from "../helpers/replicas.js";
import { RawClient } from "../helpers/raw-client.js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConsumeRequestSchema, ConsumeResponseSchema } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";

let seq = 0;
const like = (user: string, subject = "book/b1") =>
  newEvent("like.added", { userId: user, targetType: TargetType.BOOK, targetId: "b1" }, { source: "group-svc", subject });
const userOf = (e: Event) => (e.payload.value as { userId: string }).userId;

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rejects(p: Promise<unknown>, code: Code, reason: ErrorReason): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof BrokerError && err.code === code && err.reason === reason);
}

interface Mode {
  name: string;
  env: () => Record<string, string>;
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
}

let nats: NatsServer | undefined;
const MODES: Mode[] = [
  { name: "embedded", env: () => ({}) },
  {
    name: "nats",
    env: () => ({ BROKER_NATS_URL: nats?.url ?? "" }),
    setup: async () => void (nats = await startNatsServer()),
    teardown: async () => nats?.[Symbol.asyncDispose](),
  },
];

for (const mode of MODES) {
  describe(`consumer groups (${mode.name})`, () => {
    let t: TestBroker;
    const consumers: Consumer[] = [];
    before(async () => {
      await mode.setup?.();
      t = await startTestBroker(mode.env());
    });
    after(async () => {
      await Promise.all(consumers.map((c) => c.stop()));
      await t.close();
      await mode.teardown?.();
    });

    /** A fresh group on fresh events (each test has its own source). */
    async function group(def: Partial<GroupDefinition> = {}): Promise<{ name: string; source: string }> {
      const name = `g${++seq}-${mode.name}`;
      const source = `src-${name}`;
      await t.client.groups.create({ name, filter: { sources: [source] }, start: "beginning", ...def });
      return { name, source };
    }

    const publish = (client: BrokerClient, source: string, users: string[], subject = "book/b1") =>
      client.publishBatch(users.map((u) => newEvent("like.added", { userId: u, targetType: TargetType.BOOK, targetId: "b1" }, { source, subject })));

    function consume(client: BrokerClient, name: string, handler: EventHandler, concurrency = 8): Consumer {
      const c = client.consume(name, handler, { concurrency });
      consumers.push(c);
      return c;
    }

    it("gives each event to exactly one member of the group", async () => {
      const g = await group();
      const got = new Map<string, string[]>();
      const handler = (member: string) => (e: Event) => void got.set(userOf(e), [...(got.get(userOf(e)) ?? []), member]);
      const members = [consume(t.client, g.name, handler("m1")), consume(t.newClient(), g.name, handler("m2")), consume(t.newClient(), g.name, handler("m3"))];
      const users = Array.from({ length: 300 }, (_, i) => `u${i}`);
      await publish(t.client, g.source, users);
      await until(() => got.size === users.length, "all events handled");
      await new Promise((r) => setTimeout(r, 200));
      for (const [user, by] of got) assert.equal(by.length, 1, `${user} delivered ${by.length} times`);
      const perMember = ["m1", "m2", "m3"].map((m) => [...got.values()].filter((b) => b[0] === m).length);
      assert.ok(perMember.every((n) => n > 0), `work not shared: ${perMember.join(",")}`);
      await Promise.all(members.map((c) => c.stop()));
    });

    it("redelivers a failed event after the group's backoff (measured)", async () => {
      const g = await group({ retry: { initialDelayMs: 150, multiplier: 2, jitter: 0, maxAttempts: 4 } });
      const times: number[] = [];
      const c = consume(t.client, g.name, () => {
        times.push(Date.now());
        if (times.length < 3) throw new Error("not yet");
      });
      await publish(t.client, g.source, ["retry-me"]);
      await until(() => times.length === 3, "three attempts");
      const [d1, d2] = [(times[1] as number) - (times[0] as number), (times[2] as number) - (times[1] as number)];
      assert.ok(d1 >= 150 && d1 < 150 + 120, `first retry after ${d1} ms, expected ~150`);
      assert.ok(d2 >= 300 && d2 < 300 + 120, `second retry after ${d2} ms, expected ~300`);
      await c.stop();
      await until(async () => (await t.client.groups.get(g.name)).stats.backlog === 0n, "backlog drained");
    });

    it("retries after the delay a handler asks for, and per-type retry overrides apply", async () => {
      const g = await group({ retry: { initialDelayMs: 5_000, jitter: 0 }, retryOverrides: { "like.added": { initialDelayMs: 100, jitter: 0 } } });
      const times: number[] = [];
      const c = consume(t.client, g.name, () => {
        times.push(Date.now());
        if (times.length === 1) throw new Error("override applies");
        if (times.length === 2) throw new RetryLaterError(250);
      });
      await publish(t.client, g.source, ["delays"]);
      await until(() => times.length === 3, "three attempts");
      const d1 = (times[1] as number) - (times[0] as number);
      const d2 = (times[2] as number) - (times[1] as number);
      assert.ok(d1 >= 100 && d1 < 220, `override delay ${d1}`);
      assert.ok(d2 >= 250 && d2 < 370, `requested delay ${d2}`);
      await c.stop();
    });

    it("parks an event after max attempts with every attempt's error and time, and redrive delivers it again", async () => {
      const g = await group({ retry: { initialDelayMs: 20, jitter: 0, maxAttempts: 3 } });
      let fixed = false;
      const attempts: number[] = [];
      const c = consume(t.client, g.name, (e, ctx) => {
        attempts.push(ctx.attempt);
        if (!fixed) throw new Error(`royalty service down (${userOf(e)})`);
      });
      await publish(t.client, g.source, ["poison"]);
      await until(async () => (await t.client.groups.get(g.name)).stats.deadLetters === 1n, "dead letter");
      assert.deepEqual(attempts, [1, 2, 3]);
      const letters = [];
      for await (const d of t.client.groups.deadLetters(g.name)) letters.push(d);
      assert.equal(letters.length, 1);
      const dead = letters[0]!;
      assert.equal(dead.reason, "max_attempts");
      assert.equal(userOf(dead.event!), "poison");
      assert.deepEqual(dead.attempts.map((a) => [a.attempt, a.error]), [1, 2, 3].map((n) => [n, "royalty service down (poison)"]));
      const times = dead.attempts.map((a) => timestampMs(a.time!));
      assert.deepEqual([...times].sort(), times);
      fixed = true;
      assert.equal(await t.client.groups.redrive(g.name, "all"), 1);
      await until(() => attempts.length === 4, "redelivery");
      assert.equal(attempts[3], 1, "a redriven event starts with fresh attempts");
      await until(async () => (await t.client.groups.get(g.name)).stats.deadLetters === 0n && (await t.client.groups.get(g.name)).stats.backlog === 0n, "redriven event done");
      await c.stop();
    });

    it("parks a rejected event at once, lists dead letters page by page, and purges them", async () => {
      const g = await group();
      const c = consume(t.client, g.name, (e) => {
        if (userOf(e).startsWith("bad")) throw new RejectError("malformed royalty rate");
      });
      await publish(t.client, g.source, ["bad-1", "ok", "bad-2"]);
      await until(async () => (await t.client.groups.get(g.name)).stats.deadLetters === 2n, "two dead letters");
      const letters = [];
      for await (const d of t.client.groups.deadLetters(g.name, { pageSize: 1 })) letters.push(d); // a page each
      assert.deepEqual(letters.map((l) => [userOf(l.event!), l.reason, l.attempts.length]), [["bad-1", "rejected", 1], ["bad-2", "rejected", 1]]);
      assert.equal(await t.client.groups.purge(g.name, { positions: [letters[0]!.position] }), 1);
      assert.equal((await t.client.groups.get(g.name)).stats.deadLetters, 1n);
      assert.equal(await t.client.groups.purge(g.name, "all"), 1);
      assert.equal((await t.client.groups.get(g.name)).stats.deadLetters, 0n);
      await c.stop();
    });

    it("keeps order per key while other keys proceed, and a parked event does not stall its key", async () => {
      const g = await group({ ordering: "subject", retry: { initialDelayMs: 300, jitter: 0, maxAttempts: 2 } });
      const log: string[] = [];
      const c = consume(
        t.client,
        g.name,
        async (e, ctx) => {
          log.push(`${e.subject}:${userOf(e)}#${ctx.attempt}`);
          if (userOf(e) === "a1") throw new Error("a1 fails twice and is parked");
          await new Promise((r) => setTimeout(r, 5));
        },
        32,
      );
      await t.client.publishBatch([
        like("a1", "book/A"),
        like("a2", "book/A"),
        like("b1", "book/B"),
        like("a3", "book/A"),
        like("b2", "book/B"),
        like("b3", "book/B"),
      ].map((e) => Object.assign(e, { source: g.source })));
      await until(() => log.filter((l) => l.startsWith("book/A")).length === 4, "key A done");
      const a = log.filter((l) => l.startsWith("book/A"));
      const b = log.filter((l) => l.startsWith("book/B"));
      assert.deepEqual(a, ["book/A:a1#1", "book/A:a1#2", "book/A:a2#1", "book/A:a3#1"]);
      assert.deepEqual(b, ["book/B:b1#1", "book/B:b2#1", "book/B:b3#1"]);
      // Key B finished while a1 waited for its retry.
      assert.ok(log.indexOf("book/B:b3#1") < log.indexOf("book/A:a1#2"), log.join(" "));
      await c.stop();
    });

    it("redelivers a disconnected member's events after the ack deadline", async () => {
      const g = await group({ ackDeadlineMs: 300 });
      // A member that takes three deliveries and then dies without answering.
      const raw = new RawClient(t.address);
      const victim = raw.duplex("/qingyu.broker.v1.ConsumerGroupService/Consume");
      let received = 0;
      victim.on("data", (b: Buffer) => {
        if (fromBinary(ConsumeResponseSchema, b).kind.case === "delivery") received++;
      });
      victim.write(Buffer.from(toBinary(ConsumeRequestSchema, create(ConsumeRequestSchema, { kind: { case: "join", value: { group: g.name, maxInFlight: 10 } } }))));
      await publish(t.client, g.source, ["k1", "k2", "k3"]);
      await until(() => received === 3, "victim got all three");
      victim.cancel();
      raw.close();
      const redelivered: [string, number][] = [];
      const heir = consume(t.client, g.name, (e, ctx) => void redelivered.push([userOf(e), ctx.attempt]));
      await until(() => redelivered.length === 3, "redelivery to the other member");
      assert.deepEqual(redelivered.map(([, a]) => a), [2, 2, 2]);
      await heir.stop();
    });

    it("extends a deadline while the handler works", async () => {
      const g = await group({ ackDeadlineMs: 200 });
      const attempts: number[] = [];
      const c = consume(t.client, g.name, async (_e, ctx: DeliveryContext) => {
        attempts.push(ctx.attempt);
        for (let i = 0; i < 5; i++) {
          await new Promise((r) => setTimeout(r, 100));
          ctx.extend(200);
        }
      });
      await publish(t.client, g.source, ["slow"]);
      await until(async () => (await t.client.groups.get(g.name)).stats.backlog === 0n && attempts.length > 0, "slow event done", 5_000);
      assert.deepEqual(attempts, [1]);
      await c.stop();
    });

    it("reports lag: backlog, oldest unacknowledged age, in flight and members", async () => {
      const g = await group();
      await publish(t.client, g.source, ["l1", "l2", "l3"]);
      await new Promise((r) => setTimeout(r, 50));
      const idle = await t.client.groups.get(g.name);
      assert.equal(idle.stats.backlog, 3n);
      assert.ok(durationMs(idle.stats.oldestUnackedAge!) >= 40);
      const c = consume(t.client, g.name, () => new Promise((r) => setTimeout(r, 400)), 2);
      await until(async () => (await t.client.groups.get(g.name)).stats.inFlight === 2n, "two in flight");
      const busy = await t.client.groups.get(g.name);
      assert.equal(busy.stats.members.length, 1);
      assert.equal(busy.stats.members[0]?.inFlight, 2);
      await until(async () => (await t.client.groups.get(g.name)).stats.backlog === 0n, "done");
      await c.stop();
    });

    it("keeps its progress and dead letters across a broker restart", async () => {
      const g = await group({ retry: { maxAttempts: 1 } });
      const first: string[] = [];
      const c1 = consume(t.client, g.name, (e) => {
        first.push(userOf(e));
        if (userOf(e) === "dead") throw new Error("parked before restart");
      });
      await publish(t.client, g.source, ["r1", "r2", "dead"]);
      await until(() => first.length === 3, "first batch");
      await c1.stop();
      await new Promise((r) => setTimeout(r, 150)); // progress is flushed every 50 ms
      const dataDir = t.dataDir;
      await t.close({ keepData: true });
      t = await startTestBroker(mode.env(), dataDir, { adopt: true });
      const second: string[] = [];
      const c2 = consume(t.client, g.name, (e) => void second.push(userOf(e)));
      await publish(t.client, g.source, ["r4"]);
      await until(() => second.length >= 1, "after restart");
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(second, ["r4"], "acknowledged events were delivered again");
      assert.equal((await t.client.groups.get(g.name)).stats.deadLetters, 1n);
      await c2.stop();
    });

    it("answers bad requests with clear codes", async () => {
      await rejects(t.client.groups.get("nope"), Code.NOT_FOUND, ErrorReason.GROUP_NOT_FOUND);
      const g = await group();
      await rejects(t.client.groups.create({ name: g.name }), Code.ALREADY_EXISTS, ErrorReason.GROUP_EXISTS);
      await rejects(t.client.groups.create({ name: "Bad Name" }), Code.INVALID_ARGUMENT, ErrorReason.INVALID_REQUEST);
      await rejects(t.client.groups.create({ name: "bad-type", filter: { types: ["nope.*"] } }), Code.INVALID_ARGUMENT, ErrorReason.INVALID_REQUEST);
      await rejects(t.client.groups.create({ name: "bad-retry", retry: { maxAttempts: 5000 } }), Code.INVALID_ARGUMENT, ErrorReason.INVALID_REQUEST);
      const c = t.client.consume("nope", () => undefined, { reconnect: false });
      await assert.rejects(c.done, (err: unknown) => err instanceof BrokerError && err.code === Code.NOT_FOUND);
      await t.client.groups.delete(g.name);
      await rejects(t.client.groups.get(g.name), Code.NOT_FOUND, ErrorReason.GROUP_NOT_FOUND);
    });

    it("dispatches a typed handler map and acknowledges types without a handler", async () => {
      const name = `typed-${mode.name}`;
      const source = `src-${name}`;
      await t.client.groups.create({ name, filter: { sources: [source] }, start: "beginning" });
      const amounts: bigint[] = [];
      const c = t.client.consume(name, {
        "book.purchased": (e) => void amounts.push(e.payload.value.finalAmount?.minorUnits ?? 0n),
      });
      consumers.push(c);
      await t.client.publishBatch([
        newEvent("book.purchased", { userId: "u", bookId: "b", orderId: "o1", paymentMethod: 2, amount: { currencyCode: "CNY", minorUnits: 600n }, finalAmount: { currencyCode: "CNY", minorUnits: 600n } }, { source }),
        newEvent("follow.added", { followerId: "a", followeeId: "b" }, { source }),
      ]);
      await until(async () => (await t.client.groups.get(name)).stats.backlog === 0n, "both acknowledged");
      assert.deepEqual(amounts, [600n]);
      await c.stop();
    });
  });
}

describe("consumer groups on JetStream across two broker replicas", () => {
  let r: Replicas;
  let nats: NatsServer;
  let a: TestBroker;
  let b: TestBroker;
  before(async () => {
    r = await startReplicas();
    ({ nats, a, b } = r);
  });
  after(() => r.close());

  it("mirrors each event into the stream once, however many replicas forward it", async () => {
    // The mirror runs once a JetStream-backed group exists (on each replica that serves one).
    await a.client.groups.create({ name: "mirror-probe", filter: { sources: ["nobody"] } });
    await b.client.groups.get("mirror-probe");
    await a.client.publishBatch(Array.from({ length: 50 }, (_, i) => like(`m${i}`)));
    await b.client.publishBatch(Array.from({ length: 50 }, (_, i) => like(`n${i}`)));
    const { connect } = await import("@nats-io/transport-node");
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await until(async () => (await jsm.streams.info("QINGYU_EVENTS")).state.messages >= 100, "100 events mirrored");
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await jsm.streams.info("QINGYU_EVENTS")).state.messages, 100);
    } finally {
      await nc.close();
    }
  });

  it("shares one group between members on both replicas: each event to one member", async () => {
    await a.client.groups.create({ name: "shared", filter: { sources: ["shared-svc"] }, start: "now" });
    const got = new Map<string, string[]>();
    const on = (replica: string) => (e: Event) => void got.set(userOf(e), [...(got.get(userOf(e)) ?? []), replica]);
    const ca = a.client.consume("shared", on("a"), { concurrency: 8 });
    const cb = b.client.consume("shared", on("b"), { concurrency: 8 });
    await new Promise((r) => setTimeout(r, 300));
    const users = Array.from({ length: 200 }, (_, i) => `sh${i}`);
    await a.client.publishBatch(users.slice(0, 100).map((u) => Object.assign(like(u), { source: "shared-svc" })));
    await b.client.publishBatch(users.slice(100).map((u) => Object.assign(like(u), { source: "shared-svc" })));
    await until(() => got.size === users.length, "every event handled");
    await new Promise((r) => setTimeout(r, 300));
    for (const [user, by] of got) assert.equal(by.length, 1, `${user} delivered ${by.length} times`);
    const onA = [...got.values()].filter((by) => by[0] === "a").length;
    assert.ok(onA > 0 && onA < users.length, `work not shared across replicas: ${onA} on a`);
    await Promise.all([ca.stop(), cb.stop()]);
  });
});

describe("the JetStream mirror when JetStream refuses an event", () => {
  let nats: NatsServer;
  let t: TestBroker;
  before(async () => {
    nats = await startNatsServer();
    t = await startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_SUBJECT_PREFIX: "refuse" });
  });
  after(async () => {
    await t.close();
    await nats[Symbol.asyncDispose]();
  });

  it("keeps its watermark before the refused event and keeps retrying it, without losing the rest", async () => {
    const { connect } = await import("@nats-io/transport-node");
    const { jetstreamManager } = await import("@nats-io/jetstream");
    await t.client.groups.create({ name: "mirror-refuse", filter: { sources: ["nobody"] } });
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const first = await t.client.publish(like("small-1"));
      await until(async () => (await jsm.streams.info("QINGYU_REFUSE")).state.messages === 1, "first event mirrored");
      // From now on the stream refuses messages above 2 KiB: the next event is one of them.
      const info = await jsm.streams.info("QINGYU_REFUSE");
      await jsm.streams.update("QINGYU_REFUSE", { ...info.config, max_msg_size: 2_048 });
      const big = newEvent("comment.created", { userId: "u-big", targetType: TargetType.BOOK, targetId: "b1", commentId: "c-big", content: "长".repeat(3_000) }, { source: "social-svc" });
      await t.client.publish(big);
      await t.client.publish(like("small-2"));
      await new Promise((r) => setTimeout(r, 1_500)); // a few forwarding attempts and watermark saves
      const watermark = Buffer.from((await t.broker.store.kvGet("jetstream/forwarded")) ?? new Uint8Array()).toString();
      assert.equal(watermark, String(BigInt(`0x${first.position}`)), "the watermark stays on the last event before the refused one");
      // Once JetStream takes it again, the mirror goes on from the watermark: every event once. (The
      // event after the refused one was taken meanwhile, so in the stream it comes first.)
      await jsm.streams.update("QINGYU_REFUSE", { ...info.config, max_msg_size: -1 });
      await until(async () => (await jsm.streams.info("QINGYU_REFUSE")).state.messages === 3, "all three events mirrored");
      const ids: string[] = [];
      for (let seq = 1; seq <= 3; seq++) ids.push((await jsm.streams.getMessage("QINGYU_REFUSE", { seq }))?.header.get("Nats-Msg-Id") ?? "");
      assert.equal(new Set(ids).size, 3);
      assert.ok(ids.includes(big.id));
    } finally {
      await nc.close();
    }
  });
});
