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
export const progressKey = (group: string) => `progress/${group}`;
export const pendingPrefix = (group: string) => `pending/${group}/`;
export const deadPrefix = (group: string) => `dead/${group}/`;

/**
 * A group's definition as stored, with its exact bytes: every write of the group's progress expects
 * them (a compare-and-set), so a replica never writes for a definition that was changed or deleted.
 */
export interface StoredGroup {
  readonly group: ConsumerGroup;
  /** Where the group started (its first ack floor); in records written before progress had its own, the progress. */
  readonly record: GroupRecord;
  readonly bytes: Uint8Array;
}

/** The definition record: written by create, update and delete only, never by progress. */
export function storedGroup(group: ConsumerGroup, start: string, legacyDoneAbove: readonly string[] = []): StoredGroup {
  const record = create(GroupRecordSchema, { group, ackFloor: start, doneAbove: [...legacyDoneAbove] });
  return { group, record, bytes: toBinary(GroupRecordSchema, record) };
}

/** The progress of an embedded group: every position up to `ackFloor` done, and those in `doneAbove`. */
export function progressRecord(group: string, ackFloor: string, doneAbove: readonly string[]): KvWrite {
  return { key: progressKey(group), value: toBinary(GroupRecordSchema, create(GroupRecordSchema, { ackFloor, doneAbove: [...doneAbove] })) };
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

/** A dead letter put back in the flow: out of the dead letters, pending with fresh attempts. */
export function redriveRecords(group: string, position: string): KvWrite[] {
  return [{ key: deadPrefix(group) + position, value: null }, pendingRecord(group, { position, attempts: 0, history: [], redriven: true })];
}

export function deadLetterRecord(group: string, position: string, data: Uint8Array, attempts: readonly Attempt[], reason: string): KvWrite {
  const letter = create(DeadLetterSchema, { position, event: eventFromBinary(data), attempts: [...attempts], deadTime: timestampFromMs(Date.now()), reason });
  return { key: deadPrefix(group) + position, value: toBinary(DeadLetterSchema, letter) };
}

export async function loadGroups(store: EventStore): Promise<StoredGroup[]> {
  return (await store.kvScan("group/")).flatMap((e) => {
    const record = fromBinary(GroupRecordSchema, e.value);
    return record.group ? [{ group: record.group, record, bytes: e.value }] : [];
  });
}

/** Where an embedded group is: its progress record, or (written before there was one) its definition's. */
export async function loadProgress(store: EventStore, def: StoredGroup): Promise<{ floor: string; doneAbove: readonly string[] }> {
  const value = await store.kvGet(progressKey(def.group.name));
  const record = value ? fromBinary(GroupRecordSchema, value) : def.record;
  return { floor: record.ackFloor, doneAbove: record.doneAbove };
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

const DELETE_CHUNK = 5_000;

/**
 * Deletes a group's progress, pending records and dead letters (not its definition), a chunk of
 * keys at a time: no value is read, and memory stays bounded however many dead letters there are.
 */
export async function deleteGroupState(store: EventStore, group: string): Promise<void> {
  await store.kvWrite([{ key: progressKey(group), value: null }]);
  for (const prefix of [pendingPrefix(group), deadPrefix(group)]) {
    for (let keys = await store.kvKeys(prefix, { limit: DELETE_CHUNK }); keys.length > 0; keys = await store.kvKeys(prefix, { limit: DELETE_CHUNK })) {
      await store.kvWrite(keys.map((key) => ({ key, value: null })));
    }
  }
}
