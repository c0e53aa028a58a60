// How consumer groups persist in the store's key-value records. Keys sort by position within a
// group because positions are fixed-width hex.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  DeadLetterSchema,
  GroupRecordSchema,
  PendingRecordSchema,
  type Attempt,
  type ConsumerGroup,
  type DeadLetter,
  type GroupRecord,
  type PendingRecord,
} from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { eventFromBinary } from "../../../sdk/src/event/codec.js";
import type { EventStore, KvWrite } from "../store/event-store.js";

export const groupKey = (group: string) => `group/${group}`;
export const pendingPrefix = (group: string) => `pending/${group}/`;
export const deadPrefix = (group: string) => `dead/${group}/`;

export function groupRecord(group: ConsumerGroup, ackFloor: string, doneAbove: readonly string[]): KvWrite {
  return { key: groupKey(group.name), value: toBinary(GroupRecordSchema, create(GroupRecordSchema, { group, ackFloor, doneAbove: [...doneAbove] })) };
}

export function pendingRecord(group: string, r: { position: string; attempts: number; nextAtMs?: number | undefined; history: readonly Attempt[]; redriven: boolean }): KvWrite {
  const record = create(PendingRecordSchema, {
    position: r.position,
    attempts: r.attempts,
    history: [...r.history],
    redriven: r.redriven,
    ...(r.nextAtMs === undefined ? {} : { nextAttemptTime: timestampFromMs(r.nextAtMs) }),
  });
  return { key: pendingPrefix(group) + r.position, value: toBinary(PendingRecordSchema, record) };
}

export function deadLetterRecord(group: string, position: string, data: Uint8Array, attempts: readonly Attempt[], reason: string): KvWrite {
  const letter = create(DeadLetterSchema, { position, event: eventFromBinary(data), attempts: [...attempts], deadTime: timestampFromMs(Date.now()), reason });
  return { key: deadPrefix(group) + position, value: toBinary(DeadLetterSchema, letter) };
}

export async function loadGroups(store: EventStore): Promise<GroupRecord[]> {
  return (await store.kvScan("group/")).map((e) => fromBinary(GroupRecordSchema, e.value));
}

export async function loadPending(store: EventStore, group: string): Promise<PendingRecord[]> {
  return (await store.kvScan(pendingPrefix(group))).map((e) => fromBinary(PendingRecordSchema, e.value));
}

/** A group's dead letters in position order: all, or a page after position `page.after`. */
export async function loadDeadLetters(store: EventStore, group: string, page: { after?: string | undefined; limit?: number | undefined } = {}): Promise<DeadLetter[]> {
  const prefix = deadPrefix(group);
  const entries = await store.kvScan(prefix, { after: page.after === undefined ? undefined : prefix + page.after, limit: page.limit });
  return entries.map((e) => fromBinary(DeadLetterSchema, e.value));
}

/** Deletes every record of a group. */
export async function deleteGroupRecords(store: EventStore, group: string): Promise<void> {
  const keys = [groupKey(group), ...(await store.kvScan(pendingPrefix(group))).map((e) => e.key), ...(await store.kvScan(deadPrefix(group))).map((e) => e.key)];
  for (let i = 0; i < keys.length; i += 500) await store.kvWrite(keys.slice(i, i + 500).map((key) => ({ key, value: null })));
}
