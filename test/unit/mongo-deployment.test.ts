// Issue 19, items 3, 4, 7 and the smaller points: what the MongoDB store checks and plans at open,
// and how it compares keys, as pure functions.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Timestamp } from "mongodb";
import {
  MAX_EXPIRE_AFTER_SECONDS,
  TTL_INDEX,
  deploymentProblems,
  placement,
  planTtl,
  shardingProblems,
  writeConcernProblem,
} from "../../server/src/store/mongo/mongo-deployment.js";
import { compareUtf8, prefixRange } from "../../server/src/store/mongo/mongo-keys.js";
import { prefixUpperBound } from "../../server/src/store/prefix-range.js";
import { laterTime, readMaxTimeMs } from "../../server/src/store/mongo/mongo-reads.js";

describe("deploymentProblems()", () => {
  it("accepts a replica set or a mongos read from the primary", () => {
    assert.deepEqual(deploymentProblems({ setName: "rs0" }, "primary"), []);
    assert.deepEqual(deploymentProblems({ msg: "isdbgrid" }, "primary"), []);
  });

  it("refuses a standalone server and a secondary read preference", () => {
    assert.equal(deploymentProblems({}, "primary").length, 1);
    for (const mode of ["secondary", "secondaryPreferred", "nearest", "primaryPreferred"]) {
      assert.equal(deploymentProblems({ setName: "rs0" }, mode).length, 1, mode);
    }
  });
});

describe("writeConcernProblem()", () => {
  it("names an unsatisfiable or unknown write concern, and nothing else", () => {
    assert.match(writeConcernProblem(100, 5) ?? "", /BROKER_MONGODB_WRITE_CONCERN=5/);
    assert.ok(writeConcernProblem(79, "majority"));
    assert.equal(writeConcernProblem(64, 2), undefined, "a timeout is not a configuration error");
    assert.equal(writeConcernProblem(undefined, 2), undefined);
  });
});

describe("shardingProblems() and placement()", () => {
  const onPrimary = placement(undefined, undefined, "shardA");
  it("accepts collections never sharded nor moved (both on the database's primary shard)", () => {
    assert.deepEqual(onPrimary, { sharded: false, shard: "shardA" });
    assert.deepEqual(shardingProblems(onPrimary, onPrimary), []);
  });

  it("refuses a sharded collection", () => {
    const sharded = placement({}, "shardB", "shardA");
    assert.equal(sharded.sharded, true);
    assert.equal(shardingProblems(sharded, onPrimary).length, 1);
  });

  it("refuses unsharded collections moved to different shards", () => {
    const moved = placement({ unsplittable: true }, "shardB", "shardA");
    assert.deepEqual(moved, { sharded: false, shard: "shardB" });
    assert.equal(shardingProblems(moved, onPrimary).length, 1);
    assert.deepEqual(shardingProblems(moved, placement({ unsplittable: true }, "shardB", "shardA")), []);
  });
});

describe("planTtl()", () => {
  const day = 86_400_000;
  it("creates the TTL index on the recorded time, and drops the old per-document expiry index", () => {
    assert.deepEqual(planTtl([{ name: "_id_", key: { _id: 1 } }, { name: "ttl", key: { expireAt: 1 }, expireAfterSeconds: 0 }], 30 * day), [
      { op: "drop", name: "ttl" },
      { op: "create", name: TTL_INDEX, field: "at", expireAfterSeconds: 30 * 86_400 },
    ]);
  });

  it("changes the retention of stored events in place with collMod when BROKER_RETENTION changed", () => {
    const current = [{ name: TTL_INDEX, key: { at: 1 }, expireAfterSeconds: 7 * 86_400 }];
    assert.deepEqual(planTtl(current, 30 * day), [{ op: "collMod", field: "at", expireAfterSeconds: 30 * 86_400 }]);
    assert.deepEqual(planTtl(current, 7 * day), []);
  });

  it("rounds up to whole seconds and caps at the server's limit", () => {
    assert.equal((planTtl([], 60_500)[0] as { expireAfterSeconds: number }).expireAfterSeconds, 61);
    assert.equal((planTtl([], 1e15)[0] as { expireAfterSeconds: number }).expireAfterSeconds, MAX_EXPIRE_AFTER_SECONDS);
  });
});

describe("prefixUpperBound()", () => {
  const starts = (s: string, p: string) => compareUtf8(s, p) >= 0 && (prefixUpperBound(p) === undefined || compareUtf8(s, prefixUpperBound(p) as string) < 0);
  it("bounds exactly the strings with the prefix, including those continuing with U+10FFFF", () => {
    for (const p of ["book/", "a", "日本/", "x\u{10FFFF}", "\u{1F600}"]) {
      for (const tail of ["", "0", "\u{10FFFF}", "\u{10FFFF}\u{10FFFF}z", "\uFFFF", "\u{1F600}"]) assert.ok(starts(p + tail, p), JSON.stringify([p, tail]));
      const upper = prefixUpperBound(p) as string;
      assert.ok(!upper.startsWith(p), "the bound itself is outside the prefix");
      assert.ok(!starts(upper, p));
    }
    assert.equal(prefixUpperBound("ab"), "ac");
    assert.equal(prefixUpperBound("a\u{10FFFF}"), "b");
  });

  it("skips the surrogate range and has no bound for a prefix of only U+10FFFF", () => {
    assert.equal(prefixUpperBound("a\uD7FF"), "a\uE000");
    assert.equal(prefixUpperBound("\u{10FFFF}\u{10FFFF}"), undefined);
    assert.deepEqual(prefixRange("\u{10FFFF}"), { $gte: "\u{10FFFF}" });
    assert.deepEqual(prefixRange(""), { $gte: "" });
    assert.deepEqual(prefixRange("ab"), { $gte: "ab", $lt: "ac" });
  });
});

describe("compareUtf8()", () => {
  it("orders by code point as MongoDB does, where UTF-16 order differs", () => {
    // U+FF5E is below U+1F600 as a code point, above its UTF-16 lead surrogate 0xD83D.
    assert.ok("\u{1F600}" < "\uFF5E", "JavaScript's order");
    assert.ok(compareUtf8("\u{1F600}", "\uFF5E") > 0, "MongoDB's order");
    assert.equal(compareUtf8("a", "a"), 0);
    assert.ok(compareUtf8("a", "b") < 0);
  });
});

describe("laterTime() and readMaxTimeMs()", () => {
  it("keeps the latest operation time", () => {
    const a = new Timestamp({ t: 10, i: 2 });
    const b = new Timestamp({ t: 10, i: 3 });
    assert.equal(laterTime(a, b), b);
    assert.equal(laterTime(b, a), b);
    assert.equal(laterTime(undefined, a), a);
    assert.equal(laterTime(a, undefined), a);
  });

  it("limits a read by the caller's deadline within the store's cap, never to 0 (no limit)", () => {
    assert.equal(readMaxTimeMs(10_000, undefined, 0), 10_000);
    assert.equal(readMaxTimeMs(10_000, { deadlineMs: 2_500 }, 1_000), 1_500);
    assert.equal(readMaxTimeMs(10_000, { deadlineMs: 99_000 }, 1_000), 10_000);
    assert.equal(readMaxTimeMs(10_000, { deadlineMs: 500 }, 1_000), 1);
  });
});
