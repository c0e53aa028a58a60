// The contracts of a consumer group's runtime: what it is given, and the feed its events come from.
import type { Logger } from "pino";
import type { PendingRecord } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import type { Clock } from "../clock.js";
import type { EventStore, KvWrite } from "../store/event-store.js";
import type { GroupSettings } from "./group-config.js";
import type { Entry, Restored } from "./group-entry.js";

/** What a feed sees of the runtime it feeds. */
export interface FeedSink {
  /**
   * Adds an event to the window (no-op when it is there already, except for a new handle). Without
   * `recordedUs`, it is read from the event, which the runtime decodes anyway.
   */
  admit(position: string, data: Uint8Array, recordedUs: number | undefined, handle?: unknown, restored?: Restored): void;
  /** Events in the window now. */
  readonly windowSize: number;
  /** Most events the window holds. */
  readonly windowLimit: number;
  /** Most bytes of events the window holds (one event larger than that is still taken, alone). */
  readonly windowBytes: number;
  /**
   * How many more events the window takes now: none without a member (a group nobody consumes
   * holds no window), and none once its bytes reach windowBytes; an event admitted while there is
   * room may pass the byte bound, so an event larger than it still goes through.
   */
  readonly roomEvents: number;
  /** Bytes left before the byte bound. */
  readonly roomBytes: number;
  /** How many more deliveries the members could take now. */
  readonly demand: number;
  /** The lowest unfinished position in the window that is not a redrive (for the ack floor). */
  minUnfinishedSeq(): bigint | undefined;
  schedulePump(): void;
}

/**
 * Where a group's events come from and where their outcome goes: the store and the live hub
 * (embedded), or a JetStream durable consumer (with NATS). The runtime does the rest: members,
 * ordering, deadlines, attempts, dead letters.
 */
export interface GroupFeed {
  start(sink: FeedSink): Promise<void>;
  /** Room in the window: read more. */
  pull(): void;
  /** Acknowledged, or parked as a dead letter. */
  finished(entry: Entry, how: "acked" | "parked"): void;
  /**
   * Retry after `delayMs`. Returns false when the runtime should wait itself; true when the feed
   * takes care of it (the event comes back through admit()).
   */
  retryLater(entry: Entry, delayMs: number): boolean;
  /** The runtime still holds the event (an extended deadline, or an event waiting for its key). */
  keepAlive(entry: Entry): void;
  /**
   * The runtime has no member for an event it holds and no member has it now (`retrying`: one the
   * feed took to retry, see retryLater). True when the feed gives it back to where other replicas'
   * members get it at once (JetStream), and the runtime drops it; false when the runtime keeps it.
   */
  release(entry: Entry, retrying: boolean): boolean;
  /** Puts redriven dead letters back in the flow. */
  redrive(letters: readonly { position: string; data: Uint8Array; recordedUs: number }[], sink: FeedSink): Promise<void>;
  /** Progress records to write with the next flush (none when the feed keeps its progress itself). */
  progress(): KvWrite[];
  /** Backlog (not finished, in the window or not read yet) and the ack floor position. */
  lag(): Promise<{ backlog: number; floor: string; oldestUs?: number | undefined }>;
  update(settings: GroupSettings): void;
  close(): Promise<void>;
}

/** How many unfinished events a group holds in memory by default; beyond it, it stops reading ahead. */
export const DEFAULT_WINDOW_EVENTS = 10_000;
/** How many bytes of unfinished events a group holds in memory by default. */
export const DEFAULT_WINDOW_BYTES = 8 << 20;

export interface GroupRuntimeOptions {
  store: EventStore;
  log: Logger;
  feed: GroupFeed;
  /** Attempt state and dead letter count the group left in the store. */
  state: { pending: readonly PendingRecord[]; deadLetters: number };
  /** Most events held in memory (DEFAULT_WINDOW_EVENTS). */
  windowEvents?: number | undefined;
  /** Most bytes of events held in memory (DEFAULT_WINDOW_BYTES). */
  windowBytes?: number | undefined;
  /** The stored definition is no longer the one this runtime has (changed or deleted elsewhere). */
  onStale?: () => void;
  clock?: Clock;
}
