import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { dateAtOrBefore } from "../../sdk/src/client/results.js";

describe("dateAtOrBefore()", () => {
  it("never rounds a recorded time up (subscribing from an ack's time must include that event)", () => {
    const ts = create(TimestampSchema, { seconds: 1_795_000_000n, nanos: 417_600_000 });
    assert.equal(dateAtOrBefore(ts).toISOString(), "2026-11-18T11:06:40.417Z");
  });
});
