import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { uuidv7 } from "./uuid7.js";
import { EventSchema } from "../gen/qingyu/events/v1/event_pb.js";
import { catalogEntry, type EventType, type PayloadOf, type TypedEvent } from "../catalog/catalog.js";

/** What a payload of type `T` may be given as: the message, or a plain object of its fields. */
export type PayloadInit<T extends EventType> = MessageInitShape<GenMessage<PayloadOf<T>>>;

/** Envelope attributes accepted by {@link newEvent}. Every one is optional. */
export interface EventAttributes {
  /** Event id; a fresh UUIDv7 when absent. Reuse it when you retry a publish. */
  id?: string;
  /** The producing service, e.g. `"social-svc"`. The client's default source fills it when empty. */
  source?: string;
  /** The entity the event is about, e.g. `"book/b-42"`. */
  subject?: string;
  /** When it happened. @defaultValue now */
  time?: Date | Timestamp;
  correlationId?: string;
  causationId?: string;
  traceparent?: string;
  metadata?: Record<string, string>;
}

/** A fresh event id: a UUIDv7, monotonic within this process. */
export function newEventId(): string {
  return uuidv7();
}

/**
 * Builds a typed event envelope. The payload is checked by the compiler against the type string:
 * `newEvent("like.added", { userId: "u1", targetType: TargetType.BOOK, targetId: "b1" })`.
 *
 * Fills `id` (UUIDv7), `time` (now) and `data_version` (the catalog's). Does not validate: call
 * {@link validateEvent} or let the broker do it.
 */
export function newEvent<T extends EventType>(type: T, payload: PayloadInit<T>, attrs: EventAttributes = {}): TypedEvent<T> {
  const entry = catalogEntry(type);
  if (entry === undefined) throw new Error(`unknown event type '${String(type)}'`);
  const { time, ...rest } = attrs;
  const value = create(entry.schema, payload as MessageInitShape<typeof entry.schema>);
  const event = create(EventSchema, {
    ...rest,
    id: attrs.id ?? newEventId(),
    type,
    time: time instanceof Date || time === undefined ? timestampFromDate(time ?? new Date()) : time,
    dataVersion: entry.dataVersion,
  });
  event.payload = { case: entry.caseName, value } as typeof event.payload;
  return event as unknown as TypedEvent<T>;
}
