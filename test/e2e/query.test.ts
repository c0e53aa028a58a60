import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { BrokerError, Code, ErrorReason, TargetType, newEvent, type Event } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { sampleEvent } from "../helpers/sample-events.js";

const like = (user: string, subject: string, correlationId = "") =>
  newEvent("like.added", { userId: user, targetType: TargetType.BOOK, targetId: "b1" }, { source: "social-svc", subject, correlationId });
const comment = (user: string, subject: string) =>
  newEvent("comment.created", { userId: user, targetType: TargetType.BOOK, targetId: "b1", commentId: `c-${user}`, content: "好看" }, { source: "social-svc", subject });

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("BrokerClient queries", () => {
  let t: TestBroker;
  // Three batches recorded at distinct times, so time ranges can select exactly one of them.
  const batches: Event[][] = [];
  const boundaries: Date[] = [];
  const at = (i: number): Date => boundaries[i] as Date;

  before(async () => {
    t = await startTestBroker();
    for (let b = 0; b < 3; b++) {
      boundaries.push(new Date());
      await sleep(15);
      const batch = [
        like(`u${b}-1`, "book/b-1", "order-1"),
        like(`u${b}-2`, "book/b-2"),
        comment(`u${b}`, "book/b-1"),
        sampleEvent("deposit.created"),
      ];
      await t.client.publishBatch(batch);
      batches.push(batch);
      await sleep(15);
    }
    boundaries.push(new Date());
  });
  after(() => t.close());

  const ids = (events: Event[]) => events.map((e) => e.id);
  const all = () => batches.flat();

  it("replays everything in store order", async () => {
    const replayed = await collect(t.client.replay());
    assert.deepEqual(ids(replayed), ids(all()));
    const positions = replayed.map((e) => e.position);
    assert.deepEqual([...positions].sort(), positions);
  });

  it("replays a time range: from_time <= recorded_time < to_time", async () => {
    const middle = await collect(t.client.replay({ from: at(1), to: at(2) }));
    assert.deepEqual(ids(middle), ids(batches[1] ?? []));
    for (const e of middle) {
      const recorded = timestampDate(e.recordedTime!).getTime();
      assert.ok(recorded >= at(1).getTime() && recorded < at(2).getTime());
    }
    assert.deepEqual(ids(await collect(t.client.replay({ from: at(2) }))), ids(batches[2] ?? []));
    assert.deepEqual(ids(await collect(t.client.replay({ to: at(1) }))), ids(batches[0] ?? []));
    assert.deepEqual(await collect(t.client.replay({ from: at(3) })), []);
  });

  it("filters by exact type, glob, domain, source, subject, subject glob and correlation id", async () => {
    const cases: [Parameters<TestBroker["client"]["replay"]>[0], (e: Event) => boolean][] = [
      [{ types: ["like.added"] }, (e) => e.type === "like.added"],
      [{ types: ["comment.*"] }, (e) => e.type.startsWith("comment.")],
      [{ types: ["like.added", "deposit.*"] }, (e) => e.type === "like.added" || e.type.startsWith("deposit.")],
      [{ domains: ["finance"] }, (e) => e.type === "deposit.created"],
      [{ domains: ["social"], types: ["comment.*"] }, (e) => e.type === "comment.created"],
      [{ domains: ["finance"], types: ["comment.*"] }, () => false],
      [{ sources: ["social-svc"] }, (e) => e.source === "social-svc"],
      [{ subject: "book/b-1" }, (e) => e.subject === "book/b-1"],
      [{ subject: "book/*" }, (e) => e.subject.startsWith("book/")],
      [{ correlationId: "order-1" }, (e) => e.correlationId === "order-1"],
      [{ types: ["like.added"], subject: "book/b-2" }, (e) => e.type === "like.added" && e.subject === "book/b-2"],
    ];
    for (const [query, keep] of cases) {
      const expected = ids(all().filter(keep));
      assert.deepEqual(ids(await collect(t.client.replay(query))), expected, JSON.stringify(query));
      assert.equal(await t.client.countEvents(query), expected.length, JSON.stringify(query));
    }
  });

  it("pages through a query with next_page_token, oldest first", async () => {
    const pages = await collect(t.client.queryEvents({}, { pageSize: 5 }));
    assert.deepEqual(pages.map((p) => p.events.length), [5, 5, 2]);
    assert.equal(pages.at(-1)?.nextPageToken, "");
    assert.deepEqual(ids(pages.flatMap((p) => p.events)), ids(all()));
  });

  it("answers newest first, and pages backwards", async () => {
    const pages = await collect(t.client.queryEvents({ types: ["like.added"] }, { pageSize: 4, newestFirst: true }));
    const expected = ids(all().filter((e) => e.type === "like.added")).reverse();
    assert.deepEqual(ids(pages.flatMap((p) => p.events)), expected);
    assert.equal(pages[0]?.events.length, 4);
  });

  it("resumes a replay after a position", async () => {
    const everything = await collect(t.client.replay());
    const rest = await collect(t.client.replay({}, { afterPosition: everything[4]!.position }));
    assert.deepEqual(ids(rest), ids(everything.slice(5)));
  });

  it("stops a replay when the loop breaks, without leaking the call", async () => {
    let n = 0;
    for await (const _ of t.client.replay()) if (++n === 2) break;
    assert.equal(n, 2);
  });

  describe("bad queries", () => {
    const cases: [string, () => Promise<unknown>][] = [
      ["unknown type", () => t.client.countEvents({ types: ["like.exploded" as "like.added"] })],
      ["glob matching nothing", () => t.client.countEvents({ types: ["nothing.*"] })],
      ["glob with an inner star", () => t.client.countEvents({ types: ["li*e.*"] })],
      ["unknown domain", () => t.client.countEvents({ domains: ["cooking" as "social"] })],
      ["to before from", () => t.client.countEvents({ from: at(2), to: at(1) })],
      ["page size above 1000", () => t.client.queryPage({}, { pageSize: 1001 })],
      ["forged page token", () => t.client.queryPage({}, { pageToken: "bm90LWEtdG9rZW4" })],
      ["page token of another query", async () => {
        const page = await t.client.queryPage({}, { pageSize: 2 });
        return t.client.queryPage({ types: ["like.added"] }, { pageSize: 2, pageToken: page.nextPageToken });
      }],
      ["malformed replay position", () => collect(t.client.replay({}, { afterPosition: "12" }))],
    ];
    for (const [name, call] of cases) {
      it(`answers INVALID_ARGUMENT for ${name}`, async () => {
        await assert.rejects(call(), (err: unknown) => {
          assert.ok(err instanceof BrokerError);
          assert.equal(err.code, Code.INVALID_ARGUMENT, err.message);
          assert.equal(err.reason, ErrorReason.INVALID_REQUEST);
          assert.equal(err.violations.length, 1);
          return true;
        });
      });
    }
  });
});
