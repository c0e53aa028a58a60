import { create } from "@bufbuild/protobuf";
import { EventFilterSchema, type EventFilter } from "../gen/qingyu/broker/v1/broker_pb.js";
import type { EventDomain, EventType } from "../catalog/catalog.js";
import type { TimeInput } from "./results.js";

/** Which events a query, count or replay reads. */
export interface EventQuery {
  /** Exact types or prefix globs (`"comment.*"`). */
  types?: readonly (EventType | `${string}*`)[];
  domains?: readonly EventDomain[];
  sources?: readonly string[];
  /** Exact, or a prefix glob (`"book/*"`). */
  subject?: string;
  correlationId?: string;
  /**
   * A CEL expression the events must satisfy, evaluated by the broker, e.g.
   * `event.chapter_purchased.amount.minor_units > 5000` or, with one type,
   * `payload.amount.minor_units > 5000` (bindings: `event`, `payload`, `now`; see README).
   * @throws BrokerError INVALID_ARGUMENT naming the line and column of a mistake
   */
  where?: string;
  /** Inclusive lower bound on recorded time. */
  from?: TimeInput;
  /** Exclusive upper bound on recorded time. */
  to?: TimeInput;
}

/** Which events a subscription receives. */
export type SubscriptionFilter = Omit<EventQuery, "from" | "to">;

/** The wire filter of an SDK filter (values within a field OR, fields AND). */
export function toFilter(q: SubscriptionFilter): EventFilter {
  return create(EventFilterSchema, {
    types: [...(q.types ?? [])],
    domains: [...(q.domains ?? [])],
    sources: [...(q.sources ?? [])],
    subject: q.subject ?? "",
    correlationId: q.correlationId ?? "",
    where: q.where ?? "",
  });
}
