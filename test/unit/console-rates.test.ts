// The web console's events-per-second counter (server/console/rate-counter.ts): buckets by recorded
// time and domain, over a window that slides with the clock it is given. Issue 16.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EventSchema } from "../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { BUCKET_MS, RateCounter, WINDOW_MS } from "../../server/console/rate-counter.js";

const NOW = Date.UTC(2026, 10, 29, 7, 0, 0);
const at = (type: string, ms: number) => create(EventSchema, { type, recordedTime: timestampFromMs(ms) });
const BUCKETS = WINDOW_MS / BUCKET_MS;

describe("RateCounter", () => {
  it("gives each domain one rate per bucket of the window, oldest first, in events per second", () => {
    const c = new RateCounter();
    for (let i = 0; i < 10; i++) c.add(at("like.added", NOW - 1));
    c.add(at("comment.created", NOW - 1));
    c.add(at("book.purchased", NOW - WINDOW_MS + BUCKET_MS));
    c.add(at("book.purchased", NOW - WINDOW_MS)); // the bucket just before the window: not counted
    const s = c.series(NOW);
    assert.deepEqual([...s.keys()].sort(), ["bookstore", "social"]);
    const social = s.get("social")!;
    assert.equal(social.length, BUCKETS);
    assert.equal(social.at(-2), 11 / (BUCKET_MS / 1000), "the last full bucket before now");
    assert.equal(social.reduce((a, b) => a + b, 0), 11 / (BUCKET_MS / 1000));
    assert.equal(s.get("bookstore")![0], 1 / (BUCKET_MS / 1000), "the window's first bucket");
    assert.equal(s.get("bookstore")!.reduce((a, b) => a + b, 0), 1 / (BUCKET_MS / 1000), "the bucket before the window is not counted");
  });

  it("drops what the window has left behind as the clock moves on", () => {
    const c = new RateCounter();
    c.add(at("like.added", NOW));
    assert.equal(c.series(NOW).get("social")!.at(-1), 1 / (BUCKET_MS / 1000));
    const later = c.series(NOW + WINDOW_MS);
    assert.deepEqual(later.get("social"), Array(BUCKETS).fill(0));
  });

  it("counts types the console's catalog does not know under '?', and ignores events without a recorded time", () => {
    const c = new RateCounter();
    c.add(at("future.thing", NOW));
    c.add(create(EventSchema, { type: "like.added" }));
    assert.deepEqual([...c.series(NOW).keys()], ["?"]);
  });
});
