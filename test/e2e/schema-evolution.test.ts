// Schema evolution across SDK generations (docs/schema-evolution.md), against today's broker:
// - an SDK built from an older catalog (test/fixtures/catalog-0.1: before "system.error" existed)
//   reads events of that type through subscribe, replay, query, getEvent and consume, with their type
//   string and raw payload, and never throws;
// - an SDK built after "book.purchased" went to data_version 2 reads every stored version-1 event in
//   the version-2 shape through its upcaster, on every read path.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { create, equals, fromBinary } from "@bufbuild/protobuf";
import { MoneySchema, PaymentMethod, Severity, SystemErrorSchema, TargetType, newEvent, type Event } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { buildSdkGeneration, type SdkGeneration } from "../helpers/sdk-generation.js";

const FIXTURE = new URL("../fixtures/catalog-0.1", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;
const exec = promisify(execFile);

const systemError = () =>
  newEvent("system.error", { service: "bookstore-svc", severity: Severity.HIGH, errorCode: "payment_gateway_timeout", message: "gateway timed out" }, { source: "bookstore-svc" });
const like = () => newEvent("like.added", { userId: "u1", targetType: TargetType.BOOK, targetId: "b1" }, { source: "social-svc" });
const cny = (minorUnits: bigint) => create(MoneySchema, { currencyCode: "CNY", minorUnits });
const purchase = (discount?: bigint) =>
  newEvent(
    "book.purchased",
    { userId: "u1", bookId: "b1", orderId: `o-${discount ?? "none"}`, paymentMethod: PaymentMethod.BALANCE, amount: cny(1_000n), ...(discount === undefined ? {} : { discount: cny(discount) }), finalAmount: cny(1_000n - (discount ?? 0n)) },
    { source: "bookstore-svc" },
  );

/** Subscribes from the beginning and collects events until the subscription has caught up. */
async function subscribedHistory(subscribe: (opts: { from: "beginning"; signal: AbortSignal; onCaughtUp: () => void }) => AsyncIterable<Event>, count: number): Promise<Event[]> {
  const ac = new AbortController();
  const got: Event[] = [];
  for await (const e of subscribe({ from: "beginning", signal: ac.signal, onCaughtUp: () => undefined })) {
    got.push(e);
    if (got.length === count) ac.abort();
  }
  return got;
}

describe("an SDK built before an event type existed", () => {
  let t: TestBroker;
  let old: SdkGeneration;
  const published = { error: systemError(), like: like() };
  before(async () => {
    old = await buildSdkGeneration("catalog-0.1", { overlay: FIXTURE });
    assert.equal(old.sdk.isEventType("system.error"), false, "the fixture's catalog predates system.error");
    t = await startTestBroker();
    await t.client.publish(published.like);
    await t.client.publish(published.error);
  });
  after(async () => {
    await t?.close();
    old?.remove();
  });

  function assertUnknown(e: Event | undefined): void {
    assert.ok(e, "the event arrived");
    assert.equal(e.id, published.error.id);
    assert.equal(e.type, "system.error");
    assert.equal(e.payload.case, undefined);
    assert.ok(old.sdk.isUnknownEvent(e));
    const raw = old.sdk.rawPayload(e);
    assert.ok(raw);
    assert.equal(raw.fieldNumber, 813);
    // Decoded with today's schema, the raw bytes are the payload that was published.
    assert.ok(equals(SystemErrorSchema, fromBinary(SystemErrorSchema, raw.bytes), published.error.payload.value as never));
  }

  it("yields it with its type string and raw payload through subscribe, replay, query and getEvent", async () => {
    const client = old.sdk.createBrokerClient({ address: t.address });
    try {
      const subscribed = await subscribedHistory((o) => client.subscribe({}, o), 2);
      assert.equal(subscribed[0]?.payload.case, "likeAdded");
      assertUnknown(subscribed[1]);
      const replayed: Event[] = [];
      for await (const e of client.replay({})) replayed.push(e);
      assertUnknown(replayed[1]);
      assertUnknown((await client.queryPage({ types: ["system.*"] })).events[0]);
      assertUnknown(await client.getEvent(published.error.id));
      assert.equal(await client.countEvents({ types: ["system.error" as never] }), 1);
    } finally {
      client.close();
    }
  });

  it("is printed by that generation's CLI with its raw payload", async () => {
    const cli = join(old.dir, "sdk", "src", "cli", "main.ts");
    const { stdout } = await exec(process.execPath, ["--import", "tsx", cli, "--address", t.address, "get", published.error.id], { cwd: ROOT });
    const printed = JSON.parse(stdout) as { type: string; rawPayload: { field: number; base64: string } };
    assert.equal(printed.type, "system.error");
    assert.equal(printed.rawPayload.field, 813);
    const payload = fromBinary(SystemErrorSchema, Buffer.from(printed.rawPayload.base64, "base64"));
    assert.equal(payload.errorCode, "payment_gateway_timeout");
  });

  it("hands it to the consume map's `unknown` handler, and acknowledges it when there is none", async () => {
    const client = old.sdk.createBrokerClient({ address: t.address });
    try {
      for (const name of ["with-fallback", "without-fallback"]) await client.groups.ensure({ name, start: "beginning" });
      const unknown: Event[] = [];
      const likes: string[] = [];
      const withFallback = client.consume("with-fallback", { "like.added": (e) => void likes.push(e.payload.value.userId), unknown: (e) => void unknown.push(e) });
      const withoutFallback = client.consume("without-fallback", { "like.added": (e) => void likes.push(e.payload.value.userId) });
      const settled = async (name: string) => {
        for (;;) {
          const { stats } = await client.groups.get(name);
          if (stats.backlog === 0n && stats.inFlight === 0n && stats.retrying === 0n) return stats;
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      const [a, b] = [await settled("with-fallback"), await settled("without-fallback")];
      await Promise.all([withFallback.stop(), withoutFallback.stop()]);
      assert.deepEqual(likes, ["u1", "u1"]);
      assert.equal(unknown.length, 1);
      assertUnknown(unknown[0]);
      assert.equal(a.deadLetters, 0n);
      assert.equal(b.deadLetters, 0n);
    } finally {
      client.close();
    }
  });
});

describe("upcasters: an SDK built after book.purchased went to data_version 2", () => {
  let t: TestBroker;
  let next: SdkGeneration;
  const stored = { noDiscount: purchase(), discounted: purchase(100n) };
  before(async () => {
    // Version 2 of book.purchased: `discount` is always set (zero when there was none); version 1
    // left it out.
    next = await buildSdkGeneration("book-purchased-v2", {
      edit: { "qingyu/events/v1/bookstore.proto": (text) => text.replace(/(type: "book\.purchased"\s+domain: "bookstore"\s+data_version: )1/, "$12") },
    });
    t = await startTestBroker();
    for (const e of Object.values(stored)) await t.client.publish(e);
  });
  after(async () => {
    await t?.close();
    next?.remove();
  });

  const v1ToV2 = () => {
    const calls: string[] = [];
    const upcaster = next.sdk.defineUpcaster("book.purchased", 1, (payload, event) => {
      calls.push(event.id);
      payload.discount ??= create(MoneySchema, { currencyCode: payload.amount?.currencyCode ?? "CNY", minorUnits: 0n });
      return payload;
    });
    return { calls, upcaster };
  };

  function assertCurrent(events: Event[]): void {
    assert.equal(events.length, 2);
    for (const e of events) {
      assert.equal(e.dataVersion, 2);
      assert.equal(e.payload.case, "bookPurchased");
    }
    const discounts = events.map((e) => (e.payload.value as { discount?: { minorUnits: bigint } }).discount?.minorUnits);
    assert.deepEqual(discounts, [0n, 100n]);
  }

  it("applies them on subscribe, replay, query and getEvent", async () => {
    assert.equal(next.sdk.catalogEntry("book.purchased").dataVersion, 2);
    const { calls, upcaster } = v1ToV2();
    const client = next.sdk.createBrokerClient({ address: t.address, upcasters: [upcaster] });
    try {
      assertCurrent(await subscribedHistory((o) => client.subscribe({}, o), 2));
      const replayed: Event[] = [];
      for await (const e of client.replay({})) replayed.push(e);
      assertCurrent(replayed);
      assertCurrent((await client.queryPage({ types: ["book.purchased"] })).events);
      assertCurrent(await Promise.all(Object.values(stored).map((e) => client.getEvent(e.id))));
      assert.equal(calls.length, 8, "each read of a version-1 event ran the step once");
      // Without the upcaster the stored shape shows, with its version.
      const plain = next.sdk.createBrokerClient({ address: t.address });
      assert.deepEqual((await plain.queryPage({})).events.map((e) => e.dataVersion), [1, 1]);
      plain.close();
    } finally {
      client.close();
    }
  });

  it("applies them before the consume handler", async () => {
    const { upcaster } = v1ToV2();
    const client = next.sdk.createBrokerClient({ address: t.address, upcasters: [upcaster] });
    try {
      await client.groups.ensure({ name: "royalties", start: "beginning" });
      const seen: Event[] = [];
      let done: () => void = () => undefined;
      const all = new Promise<void>((resolve) => (done = resolve));
      const consumer = client.consume("royalties", { "book.purchased": (e) => (seen.push(e), seen.length === 2 && done()) });
      await all;
      await consumer.stop();
      assertCurrent([...seen].sort((a, b) => a.position.localeCompare(b.position)));
    } finally {
      client.close();
    }
  });

  it("refuses a misplaced, repeated or incomplete chain when the client is created", () => {
    const step = (type: "book.purchased" | "like.added", from: number) => next.sdk.defineUpcaster(type, from, (p) => p);
    const create = (upcasters: ReturnType<typeof step>[]) => () => next.sdk.createBrokerClient({ address: t.address, upcasters });
    assert.throws(create([step("book.purchased", 2)]), { name: "UpcasterError" }, "2 is the current version");
    assert.throws(create([step("like.added", 1)]), { name: "UpcasterError" }, "like.added is at version 1");
    assert.throws(create([step("book.purchased", 1), step("book.purchased", 1)]), { name: "UpcasterError" });
    assert.throws(create([step("book.purchased", 0)]), { name: "UpcasterError" });
  });
});
