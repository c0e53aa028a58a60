// The `where` half of a bounded scan in the SQLite reader thread: the SQL narrows by index (type,
// source, subject, correlation id, range) and reads at most maxScanned rows; the expression runs
// here, on each row, so only matches are copied to the broker's thread.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { compileWhere, whereEvalErrors } from "../../cel/cel-where.js";
import type { WhereScanQuery } from "../event-store.js";

interface WhereRow {
  position: number;
  data: Buffer;
}

export interface WhereRows<R> {
  rows: R[];
  matched: number;
  /** The last position read, undefined when none. */
  scannedTo: number | undefined;
  done: boolean;
  errors: number;
}

/** Evaluates `q.filter.where` on rows (at most maxScanned of them) until `q.limit` match. */
export function scanWhereRows<R extends WhereRow>(q: WhereScanQuery, rows: IterableIterator<R>): WhereRows<R> {
  if (!q.filter.where) throw new Error("scanWhere needs filter.where");
  const program = compileWhere(q.filter.where);
  const now = timestampFromMs(Date.now());
  const before = whereEvalErrors();
  const out: R[] = [];
  let matched = 0;
  let scanned = 0;
  let scannedTo: number | undefined;
  let full = false;
  for (const r of rows) {
    scanned++;
    scannedTo = r.position;
    if (!program.matchesBytes(r.data, now)) continue;
    matched++;
    if (!q.countOnly) out.push(r);
    if (matched >= q.limit) {
      full = true;
      break;
    }
  }
  return { rows: out, matched, scannedTo, done: !full && scanned < q.maxScanned, errors: whereEvalErrors() - before };
}
