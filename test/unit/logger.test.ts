import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger, MAX_LOGGED_ERROR_BYTES } from "../../server/src/logger.js";

function capture(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe("createLogger()", () => {
  it("logs an err that is not an Error (null, a string) as it is, without throwing", () => {
    const { lines, stream } = capture();
    const log = createLogger("info", stream);
    log.warn({ err: null }, "nothing");
    log.warn({ err: "a plain string" }, "text");
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!["err"], null);
    assert.equal(lines[1]!["err"], "a plain string");
  });

  it("cuts an error's message and stack to MAX_LOGGED_ERROR_BYTES", () => {
    const { lines, stream } = capture();
    createLogger("info", stream).error({ err: new Error("x".repeat(1 << 20)) }, "failed");
    const err = lines[0]!["err"] as { message: string; stack: string };
    assert.ok(Buffer.byteLength(err.message) <= MAX_LOGGED_ERROR_BYTES + 64, `message of ${err.message.length}`);
    assert.ok(Buffer.byteLength(err.stack) <= MAX_LOGGED_ERROR_BYTES + 64, `stack of ${err.stack.length}`);
  });
});
