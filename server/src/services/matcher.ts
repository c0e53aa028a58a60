// Filter matching in memory, for live events, consumer groups and dead letter selections: one
// module below the handlers, so that groups/ does not import a gRPC handler file.
import type { StoreFilter } from "../store/event-store.js";
import type { EventMeta } from "./live-hub.js";

/** An in-memory test of a compiled filter, for live events. */
export function matcher(filter: StoreFilter): (m: Omit<EventMeta, "id">) => boolean {
  const types = filter.types && new Set(filter.types);
  const sources = filter.sources && new Set(filter.sources);
  const subject = filter.subject;
  return (m) =>
    (!types || types.has(m.type)) &&
    (!sources || sources.has(m.source)) &&
    (!subject || ("exact" in subject ? m.subject === subject.exact : m.subject.startsWith(subject.prefix))) &&
    (filter.correlationId === undefined || m.correlationId === filter.correlationId);
}
