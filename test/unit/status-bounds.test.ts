import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { BadRequestSchema, ErrorInfoSchema, StatusSchema } from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { clip, clipBytes, MAX_ECHOED_CHARS } from "../../server/src/clip.js";
import { boundedStatus, MAX_STATUS_DETAILS_BYTES, MAX_STATUS_MESSAGE_BYTES } from "../../server/src/status-bounds.js";

describe("clip()", () => {
  it("keeps short values and cuts long ones with a count of what went", () => {
    assert.equal(clip("abc"), "abc");
    const cut = clip("x".repeat(1_000));
    assert.equal(cut, `${"x".repeat(MAX_ECHOED_CHARS)}…[+${1_000 - MAX_ECHOED_CHARS} chars]`);
  });
  it("never splits a surrogate pair", () => {
    const cut = clip(`${"x".repeat(MAX_ECHOED_CHARS - 1)}😀tail`);
    assert.ok(!/[\uD800-\uDBFF]…/.test(cut), cut);
  });
});

describe("clipBytes()", () => {
  it("fits multi-byte text into a byte budget, marker included, without broken characters", () => {
    const text = "汉".repeat(10_000);
    const cut = clipBytes(text, 1_000);
    assert.ok(Buffer.byteLength(cut) <= 1_000);
    assert.ok(!cut.includes("\uFFFD"));
    assert.ok(cut.endsWith("[cut from 30000 bytes]"));
  });
});

describe("boundedStatus()", () => {
  const info = anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "R", domain: "broker", metadata: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, "v".repeat(500)])) }));
  const bad = anyPack(BadRequestSchema, create(BadRequestSchema, { fieldViolations: Array.from({ length: 500 }, (_, i) => ({ field: `f${i}`, description: "d".repeat(100) })) }));

  it("cuts the message and drops typed details that do not fit, counting them", () => {
    const status = boundedStatus(create(StatusSchema, { code: 3, message: "m".repeat(1 << 20), details: [info, bad] }));
    assert.ok(Buffer.byteLength(status.message) <= MAX_STATUS_MESSAGE_BYTES);
    assert.ok(toBinary(StatusSchema, status).length <= MAX_STATUS_DETAILS_BYTES, `${toBinary(StatusSchema, status).length}`);
    assert.equal(status.details.length, 1);
    const kept = anyUnpack(status.details[0]!, ErrorInfoSchema);
    assert.equal(kept?.reason, "R");
    assert.equal(kept?.metadata["omitted_details"], "1");
  });

  it("leaves a small status as it is", () => {
    const small = create(StatusSchema, { code: 5, message: "event 'x' not found", details: [anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "R" }))] });
    assert.deepEqual(toBinary(StatusSchema, boundedStatus(small)), toBinary(StatusSchema, small));
  });
});
