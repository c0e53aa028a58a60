import type { EventStore, ScanQuery, StoredEvent } from "./event-store.js";

/**
 * A store scan in pages of `query.limit` rows, in position order, each page read while the
 * previous one is being used: the store works while the caller writes to a client. Ends after a
 * page that is not full, or one whose last row `more` says is as far as the caller reads.
 */
export async function* scanAhead(
  store: EventStore,
  query: ScanQuery & { readonly limit: number },
  signal: AbortSignal,
  more: (last: StoredEvent) => boolean = () => true,
): AsyncGenerator<StoredEvent[]> {
  let next: Promise<StoredEvent[]> | undefined = store.scan(query, { signal });
  try {
    while (next && !signal.aborted) {
      const rows: StoredEvent[] = await next;
      const last = rows.at(-1);
      next = last && rows.length === query.limit && more(last) ? store.scan({ ...query, afterPosition: last.position }, { signal }) : undefined;
      yield rows;
    }
  } finally {
    // A scan cut short leaves at most one read in flight: its result is not wanted.
    next?.catch(() => undefined);
  }
}
