// RetryPolicy's optional fields: zero and unset are different (issue 10, item 7).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ConsumerGroupSchema, type RetryPolicySchema } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { DEFAULT_RETRY, normalized, settingsOf } from "../../server/src/groups/group-config.js";
import { DomainError } from "../../server/src/errors.js";

const group = (retry: MessageInitShape<typeof RetryPolicySchema>) => create(ConsumerGroupSchema, { name: "g", retry });

describe("settingsOf() retry policies", () => {
  it("takes jitter 0 as no spread, and an unset jitter as the default", () => {
    assert.equal(settingsOf(group({ jitter: 0 })).retry.jitter, 0);
    assert.equal(settingsOf(group({})).retry.jitter, DEFAULT_RETRY.jitter);
    assert.equal(settingsOf(group({ jitter: 0.5 })).retry.jitter, 0.5);
  });

  it("takes max_attempts 0 as no limit, and an unset one as the default", () => {
    assert.equal(settingsOf(group({ maxAttempts: 0 })).retry.maxAttempts, Number.POSITIVE_INFINITY);
    assert.equal(settingsOf(group({})).retry.maxAttempts, DEFAULT_RETRY.maxAttempts);
    assert.equal(settingsOf(group({ maxAttempts: 7 })).retry.maxAttempts, 7);
    assert.throws(() => settingsOf(group({ maxAttempts: 1001 })), DomainError);
    assert.throws(() => settingsOf(group({ maxAttempts: -1 })), DomainError);
  });

  it("writes the policy in force out, zeros included, so GetGroup shows it", () => {
    const input = group({ jitter: 0, maxAttempts: 0 });
    const stored = normalized(input, settingsOf(input));
    assert.equal(stored.retry?.jitter, 0);
    assert.equal(stored.retry?.maxAttempts, 0);
    assert.equal(settingsOf(stored).retry.maxAttempts, Number.POSITIVE_INFINITY);
    const defaults = normalized(group({}), settingsOf(group({})));
    assert.equal(defaults.retry?.jitter, DEFAULT_RETRY.jitter);
    assert.equal(defaults.retry?.maxAttempts, DEFAULT_RETRY.maxAttempts);
  });
});
