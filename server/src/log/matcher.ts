// Filter matching in memory, for live events, consumer groups and dead letter selections: one
// module below the handlers, so that groups/ does not import a gRPC handler file.
import { liveWhere } from "../cel/cel-live.js";
import type { StoreFilter } from "../store/event-store.js";
import type { EventMeta } from "./live-hub.js";

/**
 * An in-memory test of a compiled filter, for live events. A filter with a `where` needs the event
 * itself too: decoded (an Event as `m`), or its stored bytes as `data`; without either, no match.
 */
export function matcher(filter: StoreFilter): (m: Omit<EventMeta, "id">, data?: Uint8Array) => boolean {
  const types = filter.types && new Set(filter.types);
  const sources = filter.sources && new Set(filter.sources);
  const subject = filter.subject;
  const where = filter.where && liveWhere(filter.where);
  return (m, data) =>
    (!types || types.has(m.type)) &&
    (!sources || sources.has(m.source)) &&
    (!subject || ("exact" in subject ? m.subject === subject.exact : m.subject.startsWith(subject.prefix))) &&
    (filter.correlationId === undefined || m.correlationId === filter.correlationId) &&
    (!where || where(m, data));
}
