import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { prefixUpperBound } from "../../server/src/store/prefix-range.js";

/** Code-point order, as SQLite and MongoDB compare UTF-8. */
const cmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe("prefixUpperBound()", () => {
  it("is above every string with the prefix and at or below every string after them", () => {
    for (const prefix of ["book/7", "a\u{10FFFF}", "\u{D7FF}", "x😀"]) {
      const upper = prefixUpperBound(prefix);
      assert.ok(upper !== undefined);
      for (const tail of ["", "a", "\u{10FFFF}", "\u{10FFFF}\u{10FFFF}zz", "\u{FFFF}"]) assert.ok(cmp(prefix + tail, upper) < 0, JSON.stringify([prefix, tail]));
      assert.ok(!upper.startsWith(prefix));
    }
    assert.equal(prefixUpperBound("a\u{10FFFF}"), "b");
    assert.equal(prefixUpperBound("\u{D7FF}"), "\u{E000}");
  });

  it("has no bound for an empty prefix or one of only U+10FFFF", () => {
    assert.equal(prefixUpperBound(""), undefined);
    assert.equal(prefixUpperBound("\u{10FFFF}\u{10FFFF}"), undefined);
  });
});
