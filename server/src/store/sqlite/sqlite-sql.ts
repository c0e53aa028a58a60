import { sequenceBounds } from "../position-bounds.js";
import { prefixUpperBound } from "../prefix-range.js";
import type { StoreRange } from "../event-store.js";

/** The embedded store's schema (user_version 1). Positions are the rowid. */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS events (
  position       INTEGER PRIMARY KEY,
  id             TEXT    NOT NULL UNIQUE,
  type           TEXT    NOT NULL,
  source         TEXT    NOT NULL,
  subject        TEXT,
  correlation_id TEXT,
  recorded_us    INTEGER NOT NULL,
  core_len       INTEGER NOT NULL,
  data           BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_type ON events (type, position);
CREATE INDEX IF NOT EXISTS events_source ON events (source, position);
CREATE INDEX IF NOT EXISTS events_subject ON events (subject, position) WHERE subject IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_correlation ON events (correlation_id, position) WHERE correlation_id IS NOT NULL;
-- One row per commit (every event of a commit shares its recorded time): maps time to position
-- without an index entry per event.
CREATE TABLE IF NOT EXISTS commits (position INTEGER PRIMARY KEY, recorded_us INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS commits_recorded ON commits (recorded_us);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
PRAGMA user_version = 1;
`;

/** `column` starts with `prefix`, as an indexable range (see prefix-range.ts). */
export function prefixSql(column: string, prefix: string, conds: string[], params: unknown[]): void {
  const upper = prefixUpperBound(prefix);
  conds.push(upper === undefined ? `${column} >= ?` : `${column} >= ? AND ${column} < ?`);
  params.push(prefix, ...(upper === undefined ? [] : [upper]));
}

function inList(column: string, values: readonly string[], conds: string[], params: unknown[]): void {
  if (values.length === 1) {
    conds.push(`${column} = ?`);
    params.push(values[0]);
  } else {
    conds.push(`${column} IN (SELECT value FROM json_each(?))`);
    params.push(JSON.stringify(values));
  }
}

/**
 * The WHERE clause of a range. Time bounds become position bounds (see sequenceBounds), so every
 * query runs on the primary key or a (column, position) index.
 *
 * @returns undefined when the range cannot match anything
 */
export function rangeSql(range: StoreRange, timeToPosition: (us: number) => number | undefined): { sql: string; params: unknown[] } | undefined {
  const { filter } = range;
  if (filter.types?.length === 0 || filter.sources?.length === 0) return undefined;
  const bounds = sequenceBounds(range, timeToPosition);
  if (bounds === undefined) return undefined;
  const conds = ["position > ?"];
  const params: unknown[] = [bounds.lo];
  if (Number.isFinite(bounds.hi)) {
    conds.push("position < ?");
    params.push(bounds.hi);
  }
  if (filter.types) inList("type", filter.types, conds, params);
  if (filter.sources) inList("source", filter.sources, conds, params);
  if (filter.subject && "exact" in filter.subject) {
    conds.push("subject = ?");
    params.push(filter.subject.exact);
  } else if (filter.subject && filter.subject.prefix !== "") {
    prefixSql("subject", filter.subject.prefix, conds, params);
  }
  if (filter.correlationId !== undefined) {
    conds.push("correlation_id = ?");
    params.push(filter.correlationId);
  }
  return { sql: conds.join(" AND "), params };
}
