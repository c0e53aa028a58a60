// Reading events written by other generations of the catalog: events of types this SDK does not
// know yet (raw payload), and events of an older data_version (upcasters). See docs/schema-evolution.md.
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { Event } from "../gen/qingyu/events/v1/event_pb.js";
import { catalogEntry, catalogEntryByCase, isEventType, type EventType, type PayloadOf } from "../catalog/catalog.js";

/**
 * Envelope fields are numbered below this, payload cases from it up (schema-evolution rule 3), so an
 * unknown field at or above it is a payload case this SDK's catalog does not have.
 */
export const FIRST_PAYLOAD_FIELD = 100;

/** An event whose type this SDK does not know: the type string and the raw payload only. */
export type UnknownEvent = Event & { payload: { case: undefined; value?: undefined } };

/** The payload of an event of a type this SDK does not know, as it came over the wire. */
export interface RawPayload {
  /** The payload case's field number in `qingyu.events.v1.Event`. */
  readonly fieldNumber: number;
  /** The payload message, protobuf binary. Decode it with the schema of a newer catalog. */
  readonly bytes: Uint8Array;
}

/** True when the event's payload case is one this SDK's catalog does not have (a newer type). */
export function isUnknownEvent(event: Event): event is UnknownEvent {
  return event.payload.case === undefined;
}

/**
 * The raw payload of an event whose type this SDK does not know (added to the catalog after this
 * SDK was built), or undefined when the payload is a known case or absent.
 */
export function rawPayload(event: Event): RawPayload | undefined {
  if (event.payload.case !== undefined) return undefined;
  const field = event.$unknown?.find((u) => u.no >= FIRST_PAYLOAD_FIELD && u.wireType === WireType.LengthDelimited);
  if (!field) return undefined;
  // protobuf-es keeps a length-delimited unknown field as its length varint, then the message.
  const bytes = new BinaryReader(field.data).bytes();
  return { fieldNumber: field.no, bytes };
}

/**
 * Turns a payload written at `fromVersion` into the shape of `fromVersion + 1`. It may change the
 * payload it is given (a fresh copy decoded for this read) and returns the payload to use.
 */
export type UpcastFn<T extends EventType> = (payload: PayloadOf<T>, event: Readonly<Event>) => PayloadOf<T>;

/**
 * One step of an event type's history, registered with {@link defineUpcaster}. Without a type
 * argument, a step of any type (a union, so a list may mix types).
 */
export type Upcaster<T extends EventType = EventType> = T extends EventType
  ? { readonly type: T; readonly fromVersion: number; readonly upcast: UpcastFn<T> }
  : never;

/**
 * An upcaster for events of `type` stored at `data_version` `fromVersion`: pass the steps to
 * `createBrokerClient({ upcasters })` and every event the client reads (subscribe, replay, query,
 * getEvent, consume) arrives in the catalog's current version.
 */
export function defineUpcaster<T extends EventType>(type: T, fromVersion: number, upcast: UpcastFn<T>): Upcaster<T> {
  return { type, fromVersion, upcast } as Upcaster<T>;
}

/** Thrown by `createBrokerClient` for upcasters that cannot bring a type to its current version. */
export class UpcasterError extends Error {
  override name = "UpcasterError";
}

/**
 * @internal The registered steps, checked once: a known type, a version below the catalog's, no step
 * twice, and no gap between a type's oldest step and its current version.
 */
export class Upcasters {
  private readonly steps = new Map<string, UpcastFn<EventType>>();

  constructor(upcasters: readonly Upcaster[] = []) {
    const byType = new Map<string, number[]>();
    for (const u of upcasters) {
      if (!isEventType(u.type)) throw new UpcasterError(`upcaster for unknown event type '${u.type}'`);
      const current = catalogEntry(u.type).dataVersion;
      if (!Number.isInteger(u.fromVersion) || u.fromVersion < 1 || u.fromVersion >= current) {
        throw new UpcasterError(`upcaster '${u.type}' from version ${u.fromVersion}: the catalog's version is ${current}, so steps go from 1 to ${current - 1}`);
      }
      const key = `${u.type}@${u.fromVersion}`;
      if (this.steps.has(key)) throw new UpcasterError(`upcaster '${u.type}' from version ${u.fromVersion} is registered twice`);
      this.steps.set(key, u.upcast as UpcastFn<EventType>);
      byType.set(u.type, [...(byType.get(u.type) ?? []), u.fromVersion]);
    }
    for (const [type, versions] of byType) {
      const current = catalogEntry(type as EventType).dataVersion;
      for (let v = Math.min(...versions); v < current; v++) {
        if (!this.steps.has(`${type}@${v}`)) throw new UpcasterError(`upcasters of '${type}' miss the step from version ${v} to ${v + 1}`);
      }
    }
  }

  /**
   * Brings an event to its type's current version, in place. Events of unknown types, of the
   * current version, of a newer one or without a registered step are left as they are: their
   * `dataVersion` says which shape they have.
   * @throws what an upcaster throws
   */
  apply<E extends Event>(event: E): E {
    if (this.steps.size === 0) return event;
    const entry = catalogEntryByCase(event.payload.case);
    if (!entry || event.payload.value === undefined) return event;
    for (let v = event.dataVersion; v < entry.dataVersion; v++) {
      const step = this.steps.get(`${entry.type}@${v}`);
      if (!step) break;
      event.payload.value = step(event.payload.value as PayloadOf<EventType>, event) as typeof event.payload.value;
      event.dataVersion = v + 1;
    }
    return event;
  }
}
