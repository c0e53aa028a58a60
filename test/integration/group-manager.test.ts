// The GroupManager loads a group only while it is used (issue 11, item 1): start-up reads the
// definitions only, a member's join loads the group, and a group left without members is put to
// rest (its feed detached from the live hub); the number of groups has a limit.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { ConsumerGroupSchema } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { ErrorReason } from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError } from "../../server/src/errors.js";
import { GroupManager, storeFeeds } from "../../server/src/groups/group-manager.js";
import { Member } from "../../server/src/groups/group-runtime.js";
import { LiveHub } from "../../server/src/log/live-hub.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";
import { until } from "../helpers/until.js";

const log = pino({ level: "silent" });

describe("GroupManager: groups load while used, and their number is bounded", () => {
  let temp: TempStore;
  let hub: LiveHub;
  const managers: GroupManager[] = [];
  const manager = async () => {
    const m = new GroupManager(temp.store, storeFeeds(temp.store, hub, log), log, { idleMs: 20, maxGroups: 3 });
    managers.push(m);
    await m.start();
    return m;
  };
  before(async () => {
    temp = await openTempStore("group-manager-", log);
    hub = new LiveHub(temp.store, log);
    await hub.start();
  });
  after(async () => {
    for (const m of managers) await m.close();
    hub.close();
    await temp.close();
  });

  it("puts a group to rest without members, loads it for a member, and refuses a group past the limit", async () => {
    const groups = await manager();
    for (const name of ["a", "b", "c"]) await groups.create(create(ConsumerGroupSchema, { name, start: { start: { case: "fromBeginning", value: true } } }), "test");
    await assert.rejects(groups.create(create(ConsumerGroupSchema, { name: "d" }), "test"), (err: DomainError) => {
      assert.equal(err.reason, ErrorReason.TOO_LARGE);
      assert.match(err.message, /at most 3 \(BROKER_MAX_GROUPS\)/);
      return true;
    });
    // Created groups stay loaded a moment for the member that usually follows; then rest.
    await until(() => hub.listenerCount === 0, "the new groups put to rest");

    const member = new Member("m", 4, "test", () => undefined);
    const { leave } = await groups.join("a", member);
    assert.equal(hub.listenerCount, 1, "a joined group reads live events");
    assert.equal((await groups.stats("a")).members.length, 1);
    leave();
    await until(() => hub.listenerCount === 0, "the group put to rest after its member left");

    // Stats of a group at rest load it for the call only.
    assert.equal((await groups.stats("b")).members.length, 0);
    await until(() => hub.listenerCount === 0, "b put to rest after its stats");

    await groups.delete("b", "test");
    await groups.create(create(ConsumerGroupSchema, { name: "d" }), "test");
    assert.deepEqual(groups.list().map((g) => g.name), ["a", "c", "d"]);
    await groups.close();

    // A restart: the definitions only.
    const again = await manager();
    assert.deepEqual(again.list().map((g) => g.name), ["a", "c", "d"]);
    assert.equal(hub.listenerCount, 0, "start-up loaded groups nobody consumes");
  });

  it("loads a group at rest for its stats only: it goes back to rest at once, not after the idle time", async () => {
    const groups = new GroupManager(temp.store, storeFeeds(temp.store, hub, log), log, { idleMs: 3_600_000, maxGroups: 3 });
    managers.push(groups);
    await groups.start();
    assert.equal(hub.listenerCount, 0);
    // "a" is defined (by the test above): at rest here. A scrape reads its stats.
    assert.equal((await groups.stats("a")).members.length, 0);
    await until(() => hub.listenerCount === 0, "a back at rest after its stats, an hour before its idle time");
  });
});
