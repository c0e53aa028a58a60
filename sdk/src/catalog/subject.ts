import type { Event } from "../gen/qingyu/events/v1/event_pb.js";
import { catalogEntry, catalogEntryByCase, type EventDomain, type EventType } from "./catalog.js";

/** The default first token of every event subject on NATS. */
export const DEFAULT_SUBJECT_PREFIX = "events";

const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Options of {@link eventSubject}. */
export interface SubjectOptions {
  /**
   * Subject prefix, one or more NATS tokens.
   * @defaultValue "events"
   */
  prefix?: string;
}

/**
 * The event type of an envelope, derived from its payload case (the payload is the truth; the
 * `type` attribute must agree with it, which validation checks).
 *
 * @returns undefined when the payload is not set or its case is not in the catalog
 */
export function eventTypeOf(event: Pick<Event, "payload">): EventType | undefined {
  return catalogEntryByCase(event.payload.case)?.type;
}

/** The domain of an event type or envelope, or undefined when it is not in the catalog. */
export function eventDomainOf(eventOrType: EventType | Pick<Event, "payload">): EventDomain | undefined {
  const type = typeof eventOrType === "string" ? eventOrType : eventTypeOf(eventOrType);
  return type === undefined ? undefined : catalogEntry(type).domain;
}

/**
 * The NATS subject an event is fanned out on: `<prefix>.<domain>.<type>`, e.g.
 * `events.social.like.added`.
 *
 * @throws Error when the prefix is not a valid NATS subject or the event's type is unknown
 */
export function eventSubject(eventOrType: EventType | Pick<Event, "payload">, options: SubjectOptions = {}): string {
  const prefix = options.prefix ?? DEFAULT_SUBJECT_PREFIX;
  if (!PREFIX_PATTERN.test(prefix)) throw new Error(`invalid subject prefix '${prefix}'`);
  const type = typeof eventOrType === "string" ? eventOrType : eventTypeOf(eventOrType);
  if (type === undefined) throw new Error("event has no payload of a known type");
  return `${prefix}.${catalogEntry(type).domain}.${type}`;
}
