// A consumer group's runtime on a real store, fed and timed by the test (a MemoryFeed, a
// ManualClock): for tests of the runtime's own logic.
import { pino } from "pino";
import type { ConsumerGroup } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import type { Clock } from "../../server/src/clock.js";
import { settingsOf } from "../../server/src/groups/group-config.js";
import { storedGroup } from "../../server/src/groups/group-records.js";
import { GroupRuntime, type GroupFeed, type GroupRuntimeOptions } from "../../server/src/groups/group-runtime.js";
import type { EventStore } from "../../server/src/store/event-store.js";

/** A group name not used before in this store: `prefix` and six random characters. */
export const groupName = (prefix: string) => `${prefix}${Math.random().toString(36).slice(2, 8)}`;

/**
 * Writes `group`'s definition to the store, as the group manager does, and starts its runtime over
 * `feed` with `clock`, as a new group: no attempt state, no dead letters.
 */
export async function startGroupRuntime(store: EventStore, group: ConsumerGroup, feed: GroupFeed, clock: Clock, options: Pick<GroupRuntimeOptions, "windowBytes"> = {}): Promise<GroupRuntime> {
  const def = storedGroup(group, "");
  await store.kvWrite([{ key: `group/${group.name}`, value: def.bytes }]);
  const runtime = new GroupRuntime(def, settingsOf(group), { store, log: pino({ level: "silent" }), feed, state: { pending: [], deadLetters: 0 }, clock, ...options });
  await runtime.start();
  return runtime;
}
