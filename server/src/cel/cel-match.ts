// The one loop that runs a `where` over stored rows, for every store: SQLite's reader thread runs it
// on the rows its SQL narrowed by index; MongoDB's scan runs it in process on the chunks it reads.
import { timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { compileWhere, whereEvalErrors, type WhereSpec } from "./cel-where.js";

export interface MatchRowsOptions {
  readonly where: WhereSpec;
  /** Stop once this many rows matched. */
  readonly limit: number;
  /** Count the matches without keeping them. */
  readonly countOnly?: boolean | undefined;
  /** `now` for the expression; one value for the whole scan. */
  readonly now?: Timestamp;
}

export interface RowMatches<R> {
  /** The matching rows, in the order read (none with countOnly). */
  readonly rows: R[];
  readonly matched: number;
  readonly scanned: number;
  /** The last row examined, undefined when there was none. */
  readonly last: R | undefined;
  /** `limit` rows matched (the rows after `last` were not read). */
  readonly full: boolean;
  /** Rows whose evaluation failed (non-matches). */
  readonly errors: number;
}

/** Evaluates the expression on each row's envelope bytes until `limit` match or the rows end. */
export function matchRows<R extends { readonly data: Uint8Array }>(rows: Iterable<R>, o: MatchRowsOptions): RowMatches<R> {
  const program = compileWhere(o.where);
  const now = o.now ?? timestampFromMs(Date.now());
  const errorsBefore = whereEvalErrors();
  const out: R[] = [];
  let matched = 0;
  let scanned = 0;
  let last: R | undefined;
  let full = false;
  for (const r of rows) {
    scanned++;
    last = r;
    if (!program.matchesBytes(r.data, now)) continue;
    matched++;
    if (!o.countOnly) out.push(r);
    if (matched >= o.limit) {
      full = true;
      break;
    }
  }
  return { rows: out, matched, scanned, last, full, errors: whereEvalErrors() - errorsBefore };
}
