// Where each consumer group's events come from: the embedded store and live hub, or JetStream
// (jetstream-feed.ts).
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import type { ConsumerGroup } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { seqBeforeTime } from "../services/follow-log.js";
import type { LiveHub } from "../services/live-hub.js";
import type { EventStore } from "../store/event-store.js";
import { decodePosition } from "../store/position.js";
import type { GroupSettings } from "./group-config.js";
import type { GroupFeed } from "./group-feed.js";
import { loadProgress, type StoredGroup } from "./group-records.js";
import { StoreFeed } from "./store-feed.js";

/** Makes the feed of each group: the store (embedded) or JetStream. */
export interface FeedFactory {
  /** The position a new group starts after. */
  startOf(group: ConsumerGroup): Promise<bigint>;
  /** For a group just created (sets up a JetStream consumer, with NATS). */
  create(def: StoredGroup, settings: GroupSettings): Promise<GroupFeed>;
  /** For a group resumed at start-up or picked up from another replica. */
  resume(def: StoredGroup, settings: GroupSettings): Promise<GroupFeed>;
  /** Removes what `create` set up. */
  destroy(name: string): Promise<void>;
  /**
   * Groups live outside this broker (JetStream) and every replica may serve them: definitions
   * made on one broker are picked up by the others.
   */
  readonly shared: boolean;
}

/** The embedded feeds: the store and the live hub. */
export function storeFeeds(store: EventStore, hub: LiveHub, log: Logger): FeedFactory {
  return {
    startOf: (group) => startFloor(store, hub.lastSeq, group),
    create: async (def, settings) => new StoreFeed(store, hub, log, settings, { floor: decodePosition(def.record.ackFloor) ?? 0n, doneAbove: [] }),
    resume: async (def, settings) => {
      const at = await loadProgress(store, def);
      return new StoreFeed(store, hub, log, settings, { floor: decodePosition(at.floor) ?? 0n, doneAbove: at.doneAbove.map((p) => decodePosition(p) ?? 0n) });
    },
    destroy: async () => undefined,
    shared: false,
  };
}

/** The position a new group starts after: beginning, a time, or now (`hubSeq`). */
export async function startFloor(store: EventStore, hubSeq: bigint, group: ConsumerGroup): Promise<bigint> {
  const start = group.start?.start;
  if (start?.case === "fromBeginning") return 0n;
  if (start?.case === "fromTime") {
    return seqBeforeTime(store, timestampDate(start.value).getTime() * 1000, hubSeq);
  }
  return hubSeq;
}
