// Scans with a `where` expression, shared by the stores: the bounded page both stores answer
// (SQLite in its reader thread, MongoDB here in process), and the unbounded scan and count built
// from such pages for callers that need the whole answer.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { matchRows } from "../cel/cel-match.js";
import type { EventStore, ReadLimits, ScanQuery, StoreRange, StoredEvent, WherePage, WhereScanQuery } from "./event-store.js";

/** Rows examined per page when a caller wants everything (scan, count). */
export const WHERE_SCAN_ROWS = 4_096;
/** Rows read per store call when the expression is evaluated outside the store. */
const READ_CHUNK = 512;

/** Continues a scan past the position `scannedTo`, in its direction. */
export function pastPosition<Q extends ScanQuery>(query: Q, scannedTo: string): Q {
  return query.newestFirst ? { ...query, beforePosition: scannedTo } : { ...query, afterPosition: scannedTo };
}

/**
 * A bounded `where` scan over a store's plain scan: reads rows in chunks and evaluates here. For
 * stores whose reads happen elsewhere (MongoDB); SQLite evaluates in its reader thread instead.
 */
export async function scanWhereInProcess(
  scanPlain: (q: ScanQuery, limits?: ReadLimits) => Promise<StoredEvent[]>,
  query: WhereScanQuery,
  limits?: ReadLimits,
): Promise<WherePage> {
  const where = query.filter.where;
  if (!where) throw new Error("scanWhere needs filter.where");
  const { where: _, ...filter } = query.filter;
  const now = timestampFromMs(Date.now());
  const events: StoredEvent[] = [];
  let matched = 0;
  let scanned = 0;
  let errors = 0;
  let scannedTo = "";
  let q: ScanQuery = { ...query, filter };
  for (;;) {
    const chunk = Math.min(READ_CHUNK, query.maxScanned - scanned);
    const rows = await scanPlain({ ...q, limit: chunk }, limits);
    const page = matchRows(rows, { where, limit: query.limit - matched, countOnly: query.countOnly, now });
    events.push(...page.rows);
    matched += page.matched;
    scanned += page.scanned;
    errors += page.errors;
    scannedTo = page.last?.position ?? scannedTo;
    if (page.full) return { events, matched, scannedTo, done: false, errors };
    if (rows.length < chunk) return { events, matched, scannedTo, done: true, errors };
    if (scanned >= query.maxScanned) return { events, matched, scannedTo, done: false, errors };
    q = pastPosition(q, scannedTo);
  }
}

/** Every matching event up to `query.limit`, however many rows that reads. */
export async function scanAllWhere(store: Pick<EventStore, "scanWhere">, query: ScanQuery, limits?: ReadLimits): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  let q: WhereScanQuery = { ...query, maxScanned: WHERE_SCAN_ROWS };
  for (;;) {
    const page = await store.scanWhere({ ...q, limit: query.limit - out.length }, limits);
    out.push(...page.events);
    if (page.done || out.length >= query.limit || page.scannedTo === "") return out;
    q = pastPosition(q, page.scannedTo);
  }
}

/** How many events of a range match, reading all of them. */
export async function countAllWhere(store: Pick<EventStore, "scanWhere">, range: StoreRange, limits?: ReadLimits): Promise<number> {
  let total = 0;
  let q: WhereScanQuery = { ...range, limit: Number.MAX_SAFE_INTEGER, maxScanned: WHERE_SCAN_ROWS * 4, countOnly: true };
  for (;;) {
    const page = await store.scanWhere(q, limits);
    total += page.matched;
    if (page.done || page.scannedTo === "") return total;
    q = pastPosition(q, page.scannedTo);
  }
}

/**
 * Bounded `where` pages in store order, each read while the previous one is used (like
 * scanAhead), until the range is done, `more` says stop, or the signal aborts.
 */
export async function* scanWhereAhead(
  store: Pick<EventStore, "scanWhere">,
  query: WhereScanQuery,
  signal: AbortSignal,
  more: (scannedTo: string) => boolean = () => true,
): AsyncGenerator<WherePage> {
  let next: Promise<WherePage> | undefined = store.scanWhere(query, { signal });
  try {
    while (next && !signal.aborted) {
      const page: WherePage = await next;
      next = !page.done && page.scannedTo !== "" && more(page.scannedTo) ? store.scanWhere(pastPosition(query, page.scannedTo), { signal }) : undefined;
      yield page;
    }
  } finally {
    next?.catch(() => undefined);
  }
}
