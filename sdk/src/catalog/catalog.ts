import type { DescMessage } from "@bufbuild/protobuf";
import { EventSchema, type Event } from "../gen/qingyu/events/v1/event_pb.js";
import type { EventCatalogMap } from "../gen/qingyu/events/v1/event_catalog.js";
import { event as eventOption } from "../gen/qingyu/events/v1/options_pb.js";
import { readCatalog, type CatalogEntry } from "./read-catalog.js";

/** Every event type string of the catalog, e.g. `"like.added"`. */
export type EventType = keyof EventCatalogMap;
/** Every domain of the catalog, e.g. `"social"`. */
export type EventDomain = EventCatalogMap[EventType]["domain"];
/** The payload message of an event type. */
export type PayloadOf<T extends EventType> = EventCatalogMap[T]["payload"];
/** The payload oneof case of an event type, e.g. `"likeAdded"` for `"like.added"`. */
export type CaseOf<T extends EventType> = EventCatalogMap[T]["case"];
/** The event types of one domain. */
export type EventTypeOf<D extends EventDomain> = {
  [T in EventType]: EventCatalogMap[T]["domain"] extends D ? T : never;
}[EventType];

/**
 * An envelope whose `type` and payload case are known to the compiler: `event.payload.value` is
 * the payload message of `T`.
 */
export type TypedEvent<T extends EventType = EventType> = T extends EventType
  ? Omit<Event, "type" | "payload"> & {
      type: T;
      payload: { case: CaseOf<T>; value: PayloadOf<T> };
    }
  : never;

/** A catalog entry as exposed by the SDK. */
export interface EventTypeInfo<T extends EventType = EventType> extends CatalogEntry {
  readonly type: T;
  readonly domain: EventDomain;
}

const entries = readCatalog(EventSchema, eventOption) as EventTypeInfo[];
const byType = new Map<string, EventTypeInfo>(entries.map((e) => [e.type, e]));
const byCase = new Map<string, EventTypeInfo>(entries.map((e) => [e.caseName, e]));
const domains = [...new Set(entries.map((e) => e.domain))] as EventDomain[];

/** The whole catalog, in declaration order. */
export function eventCatalog(): readonly EventTypeInfo[] {
  return entries;
}

/** The domains of the catalog, in declaration order. */
export function eventDomains(): readonly EventDomain[] {
  return domains;
}

/** True when `type` is a type string of the catalog. */
export function isEventType(type: string): type is EventType {
  return byType.has(type);
}

/** The catalog entry of a type string, or undefined for an unknown type. */
export function catalogEntry<T extends EventType>(type: T): EventTypeInfo<T>;
export function catalogEntry(type: string): EventTypeInfo | undefined;
export function catalogEntry(type: string): EventTypeInfo | undefined {
  return byType.get(type);
}

/** The catalog entry of a payload oneof case (e.g. `"likeAdded"`), or undefined. */
export function catalogEntryByCase(caseName: string | undefined): EventTypeInfo | undefined {
  return caseName === undefined ? undefined : byCase.get(caseName);
}

/** The payload message descriptor of an event type. */
export function payloadSchema(type: EventType): DescMessage {
  return catalogEntry(type).schema;
}
