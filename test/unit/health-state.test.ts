// HealthState: the broker's status as a whole (the store check) and one service degraded on its
// own (consumer groups while JetStream does not answer), without I/O.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HealthState, ServingStatus } from "../../server/src/services/health.js";

const GROUPS = "qingyu.broker.v1.ConsumerGroupService";
const BROKER = "qingyu.broker.v1.EventBrokerService";

describe("HealthState.degrade()", () => {
  it("makes one service NOT_SERVING whatever the whole is set to, and gives it the whole's status back", () => {
    const health = new HealthState([BROKER, GROUPS]);
    health.setAll(ServingStatus.SERVING);

    health.degrade(GROUPS, true);
    // The periodic store check sets the whole again: the degraded service stays NOT_SERVING.
    health.setAll(ServingStatus.SERVING);
    assert.equal(health.get(GROUPS), ServingStatus.NOT_SERVING);
    assert.equal(health.get(BROKER), ServingStatus.SERVING);
    assert.equal(health.get(""), ServingStatus.SERVING);

    health.degrade(GROUPS, false);
    assert.equal(health.get(GROUPS), ServingStatus.SERVING);
    health.setAll(ServingStatus.NOT_SERVING);
    health.degrade(GROUPS, true);
    health.degrade(GROUPS, false);
    assert.equal(health.get(GROUPS), ServingStatus.NOT_SERVING, "the whole's status when no longer degraded");
  });
});
