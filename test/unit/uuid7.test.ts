import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { uuidv7 } from "../../sdk/src/event/uuid7.js";

describe("uuidv7()", () => {
  it("makes canonical version-7, RFC-variant UUIDs that carry the millisecond", () => {
    const now = Date.UTC(2026, 10, 25, 12, 0, 0, 123);
    const id = uuidv7(now + 10_000); // later than any id made so far in this process
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), now + 10_000);
  });

  it("stays unique and in creation order within one millisecond, and across many", () => {
    const ids = Array.from({ length: 20_000 }, () => uuidv7());
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
  });

  it("keeps order when the clock goes back", () => {
    const a = uuidv7(Date.now() + 60_000);
    const b = uuidv7(Date.now());
    assert.ok(b > a);
  });
});
