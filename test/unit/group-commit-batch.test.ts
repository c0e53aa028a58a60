// Issue 19, items 5 and 7: a commit is bounded in bytes as well as events, and an event whose commit
// answer was lost still reaches the bus when its retry comes back as a duplicate.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InDoubtIds, batchLength } from "../../server/src/store/group-commit.js";

describe("batchLength()", () => {
  const g = (events: number, bytes: number) => ({ events, bytes });
  it("takes groups while both the event and the byte bounds hold", () => {
    assert.equal(batchLength([g(1, 10), g(1, 10), g(1, 10)], 100, 25), 2);
    assert.equal(batchLength([g(60, 1), g(60, 1)], 100, 1_000), 1);
    assert.equal(batchLength([g(1, 10), g(1, 10)], 100, 20), 2, "bounds are inclusive");
    assert.equal(batchLength([], 100, 20), 0);
  });

  it("always takes the first group whole, even past a bound (groups are atomic)", () => {
    assert.equal(batchLength([g(1, 50 << 20), g(1, 1)], 4_096, 16 << 20), 1);
    assert.equal(batchLength([g(5_000, 1)], 4_096, 16 << 20), 1);
  });
});

describe("InDoubtIds", () => {
  it("answers true once per id added", () => {
    const ids = new InDoubtIds(10);
    ids.add(["a", "b"]);
    assert.equal(ids.take("a"), true);
    assert.equal(ids.take("a"), false);
    assert.equal(ids.take("c"), false);
    assert.equal(ids.size, 1);
  });

  it("forgets the oldest ids beyond its bound", () => {
    const ids = new InDoubtIds(2);
    ids.add(["a", "b", "c"]);
    assert.equal(ids.size, 2);
    assert.equal(ids.take("a"), false);
    ids.add(["b"]); // refreshed: now the newest
    ids.add(["d"]);
    assert.equal(ids.take("c"), false);
    assert.equal(ids.take("b"), true);
    assert.equal(ids.take("d"), true);
  });
});
