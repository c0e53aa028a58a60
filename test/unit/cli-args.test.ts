import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseFrom, parsePattern, parsePatterns, parseTime, UsageError } from "../../sdk/src/cli/args.js";

describe("CLI arguments", () => {
  it("reads patterns over <domain>.<type>", () => {
    assert.deepEqual(parsePattern("social.*"), { domains: ["social"] });
    assert.deepEqual(parsePattern("social.>"), { domains: ["social"] });
    assert.deepEqual(parsePattern("social.like.*"), { domains: ["social"], types: ["like.*"] });
    assert.deepEqual(parsePattern("like.added"), { types: ["like.added"] });
    assert.deepEqual(parsePattern("comment.*"), { types: ["comment.*"] });
    assert.deepEqual(parsePattern("*"), {});
  });

  it("ORs several patterns of one kind and refuses a mix", () => {
    assert.deepEqual(parsePatterns(["like.*", "comment.*"]), { types: ["like.*", "comment.*"] });
    assert.deepEqual(parsePatterns(["social.*", "finance.*"]), { domains: ["social", "finance"] });
    assert.deepEqual(parsePatterns([]), {});
    assert.throws(() => parsePatterns(["social.*", "deposit.created"]), UsageError);
  });

  it("reads --from as now, beginning, a duration ago, a time or a position", () => {
    const now = Date.UTC(2026, 10, 25, 12);
    assert.equal(parseFrom("now"), "now");
    assert.equal(parseFrom("beginning"), "beginning");
    assert.deepEqual(parseFrom("1h", now), new Date(now - 3_600_000));
    assert.deepEqual(parseFrom("2026-11-01T00:00:00Z"), new Date("2026-11-01T00:00:00Z"));
    assert.deepEqual(parseFrom("00000000000000ff"), { afterPosition: "00000000000000ff" });
    assert.equal(parseFrom(undefined), undefined);
    assert.throws(() => parseFrom("yesterday"), UsageError);
    assert.throws(() => parseTime("--to", "now"), UsageError);
  });
});
