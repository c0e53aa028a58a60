// GetBrokerStats' store size: a size the store cannot tell is unset (proto3 `optional`), so that
// clients show it as unknown rather than 0 B, while a measured 0 stays 0. The handler is given a
// store that fails to measure itself, as a MongoDB user without the dbStats right does (no MongoDB
// server can run here; the real stores' sizes are tested in test/integration/store-contract).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { GetBrokerStatsResponseSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { statsHandlers } from "../../server/src/services/stats.js";
import { openAccess } from "../../server/src/auth/gate.js";
import type { HandlerContext } from "../../server/src/services/handler-context.js";
import { statsText } from "../../sdk/src/cli/stats.js";

// The handler asks only the caller's access; the rest of a call's context plays no part here.
const ctx = { access: openAccess("GetBrokerStats") } as HandlerContext;

async function stats(sizeBytes: () => Promise<number>) {
  const handlers = statsHandlers({ store: { kind: "mongodb", sizeBytes }, bus: { kind: "nats" }, subscribers: async () => 2, startedAtMs: 0 });
  // Through the wire format, as a client receives it.
  return fromBinary(GetBrokerStatsResponseSchema, toBinary(GetBrokerStatsResponseSchema, create(GetBrokerStatsResponseSchema, await handlers.getBrokerStats({}, ctx))));
}

describe("GetBrokerStats store size", () => {
  it("leaves the size unset when the store cannot measure itself, and still answers the other figures", async () => {
    const s = await stats(() => Promise.reject(new Error("not authorized on db to execute command { dbStats: 1 }")));
    assert.equal(s.storeSizeBytes, undefined);
    assert.deepEqual([s.store, s.bus, s.subscribers], ["mongodb", "nats", 2]);
    assert.equal("storeSizeBytes" in (toJson(GetBrokerStatsResponseSchema, s) as object), false, "JSON omits an unknown size");
  });

  it("leaves the size unset when the store's figure is no size (NaN, negative)", async () => {
    assert.equal((await stats(async () => Number.NaN)).storeSizeBytes, undefined);
    assert.equal((await stats(async () => -1)).storeSizeBytes, undefined);
  });

  it("reports a measured size, 0 included, as set", async () => {
    assert.equal((await stats(async () => 4096.4)).storeSizeBytes, 4096n);
    const empty = await stats(async () => 0);
    assert.equal(empty.storeSizeBytes, 0n, "a measured 0 is not an unknown size");
  });

  it("is printed by the CLI as 'size unknown' when unset, in bytes when set", async () => {
    const unknown = statsText(await stats(() => Promise.reject(new Error("no dbStats"))));
    assert.match(unknown, /^store: mongodb \(size unknown\)$/m);
    assert.match(statsText(await stats(async () => 0)), /^store: mongodb \(0 bytes\)$/m);
  });
});
