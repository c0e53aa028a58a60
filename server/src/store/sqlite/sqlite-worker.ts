// Runs in a worker thread: every SQLite call of the embedded store happens here, never on the
// broker's event loop. Two workers run per store: a "writer" (appends, retention) and a "reader"
// (lookups, scans, counts, WAL checkpoints). WAL mode lets the reader work beside the writer.
import Database from "better-sqlite3";
import { parentPort, workerData } from "node:worker_threads";
import { encodePosition } from "../position.js";
import { withSuffix } from "../envelope-suffix.js";
import type { CheckpointTiming, KvEntry, KvExpect, KvWrite, ScanQuery, StoreRange, WhereScanQuery } from "../event-store.js";
import { matchRows } from "../../cel/cel-match.js";
import { compileWhere } from "../../cel/cel-where.js";
import { sequenceBounds } from "../position-bounds.js";
import { sameContent } from "../same-content.js";
import { prefixSql, SCHEMA_SQL, rangeSql } from "./sqlite-sql.js";
import { EXPIRE_CHUNK, type PackedGroups, type StoredDuplicate, type WorkerAppendResult, type WorkerData, type WorkerGroupOutcome, type WorkerRequest, type WorkerResponse, type WorkerRows, type WorkerWherePage } from "./sqlite-protocol.js";

const { file, role, sync, busyTimeoutMs } = workerData as WorkerData;
const db = new Database(file, { readonly: false, timeout: busyTimeoutMs });
db.pragma("journal_mode = WAL");
db.pragma(`synchronous = ${sync === "full" ? "FULL" : "NORMAL"}`);
if (role === "writer") {
  // Checkpoints run from the reader worker, so a commit never waits for one.
  db.pragma("wal_autocheckpoint = 0");
  db.exec(SCHEMA_SQL);
}

const statements = new Map<string, Database.Statement>();
function stmt(sql: string): Database.Statement {
  let s = statements.get(sql);
  if (s === undefined) {
    s = db.prepare(sql);
    if (statements.size > 200) statements.clear();
    statements.set(sql, s);
  }
  return s;
}

interface Row {
  position: number;
  recorded_us: number;
  core_len: number;
  data: Buffer;
}

const nowUs = (): number => Math.floor((performance.timeOrigin + performance.now()) * 1000);

function readMeta(): { lastPosition: number; lastRecordedUs: number } {
  const rows = stmt("SELECT key, value FROM meta").all() as { key: string; value: number }[];
  const get = (k: string) => rows.find((r) => r.key === k)?.value ?? 0;
  return { lastPosition: get("last_position"), lastRecordedUs: get("last_recorded_us") };
}

function sameCore(stored: { core_len: number; data: Buffer }, bytes: Uint8Array): boolean {
  return sameContent(stored.data.subarray(0, stored.core_len), bytes);
}

/** Appends all groups in the caller's transaction; each group is all-or-nothing. */
function appendRows(p: PackedGroups): Pick<WorkerAppendResult, "recordedUs" | "groups"> {
  const meta = readMeta();
  let last = meta.lastPosition;
  // Recorded time never decreases along positions, even if the clock steps back or another
  // process shares the file: time ranges then map onto position ranges.
  const recordedUs = Math.max(nowUs(), meta.lastRecordedUs);
  const byId = stmt("SELECT position, recorded_us, core_len, data FROM events WHERE id = ?");
  const insert = stmt(
    "INSERT INTO events (position, id, type, source, subject, correlation_id, recorded_us, core_len, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const groups: WorkerGroupOutcome[] = [];
  let base = 0;
  for (const size of p.sizes) {
    const start = base;
    base += size;
    const bytes = (i: number) => p.data.subarray(i === 0 ? 0 : (p.ends[i - 1] as number), p.ends[i] as number);
    const seqs = new Float64Array(size);
    const duplicate = new Uint8Array(size);
    const stored: StoredDuplicate[] = [];
    const firstInGroup = new Map<string, number>();
    let conflict: { index: number; id: string; position: string } | undefined;
    for (let j = 0; j < size && !conflict; j++) {
      const i = start + j;
      const id = p.ids[i] as string;
      const existing = byId.get(id) as Row | undefined;
      if (existing) {
        if (!sameCore(existing, bytes(i))) conflict = { index: j, id, position: encodePosition(existing.position) };
        seqs[j] = existing.position;
        duplicate[j] = 1;
        stored.push({ index: j, recordedUs: existing.recorded_us, data: existing.data });
        continue;
      }
      const first = firstInGroup.get(id);
      if (first !== undefined) {
        if (!sameContent(bytes(start + first), bytes(i))) conflict = { index: j, id, position: "" };
        duplicate[j] = 1;
        continue; // its sequence number is the first occurrence's, set below
      }
      firstInGroup.set(id, j);
    }
    if (conflict) {
      groups.push({ ok: false, conflict });
      continue;
    }
    for (const j of firstInGroup.values()) {
      const i = start + j;
      const core = bytes(i);
      const fill = p.fillTime[i] === 1;
      seqs[j] = ++last;
      insert.run(last, p.ids[i], p.types[i], p.sources[i], p.subjects[i] || null, p.correlationIds[i] || null, recordedUs, core.length, withSuffix(core, recordedUs, encodePosition(last), fill));
    }
    for (let j = 0; j < size; j++) if (seqs[j] === 0) seqs[j] = seqs[firstInGroup.get(p.ids[start + j] as string) as number] as number;
    groups.push({ ok: true, seqs, duplicate, stored });
  }
  if (last !== meta.lastPosition) {
    stmt("INSERT INTO commits (position, recorded_us) VALUES (?, ?)").run(meta.lastPosition + 1, recordedUs);
    const upsert = stmt("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    upsert.run("last_position", last);
    upsert.run("last_recorded_us", recordedUs);
  }
  return { recordedUs, groups };
}

// The monotonic clock of group-commit.ts's monoMs (that module is not loaded in this thread).
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const begin = db.prepare("BEGIN IMMEDIATE");
const commit = db.prepare("COMMIT");
const rollback = db.prepare("ROLLBACK");

/**
 * One IMMEDIATE transaction for all groups, committed apart from the rows so that a trace can tell
 * the rows from the commit (the WAL write and its fsync). What better-sqlite3's transaction() does,
 * with the times taken in between.
 */
function append(p: PackedGroups): WorkerAppendResult {
  const received = nowMs();
  begin.run();
  const begun = nowMs();
  let rows: Pick<WorkerAppendResult, "recordedUs" | "groups">;
  let committing: number;
  try {
    rows = appendRows(p);
    committing = nowMs();
    commit.run();
  } catch (err) {
    if (db.inTransaction) rollback.run();
    throw err;
  }
  return { ...rows, timing: { received, begun, committing, committed: nowMs() } };
}

const kvWriteTx = db.transaction((entries: KvWrite[], expect: KvExpect | undefined): boolean => {
  if (expect) {
    // The writer's IMMEDIATE transaction holds the write lock: nothing changes between this read and the writes.
    const row = stmt("SELECT value FROM kv WHERE key = ?").get(expect.key) as { value: Uint8Array } | undefined;
    const held = row?.value;
    if (expect.value === null ? held !== undefined : held === undefined || Buffer.compare(held, expect.value) !== 0) return false;
  }
  const put = stmt("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  const del = stmt("DELETE FROM kv WHERE key = ?");
  for (const e of entries) {
    if (e.value === null) del.run(e.key);
    else put.run(e.key, e.value);
  }
  return true;
});

/** The records (the given columns) of a prefix, in key order, after a key and up to a limit. */
function kvRange(columns: string, req: { prefix: string; after?: string | undefined; limit?: number | undefined }): unknown[] {
  const conds: string[] = [];
  const params: unknown[] = [];
  prefixSql("key", req.prefix, conds, params);
  if (req.after !== undefined) {
    conds.push("key > ?");
    params.push(req.after);
  }
  if (req.limit !== undefined) params.push(req.limit);
  return stmt(`SELECT ${columns} FROM kv WHERE ${conds.join(" AND ")} ORDER BY key${req.limit === undefined ? "" : " LIMIT ?"}`).all(...params);
}

/** Packs rows into one transferable buffer, so a page of events crosses threads in one copy. */
function packRows(rows: Row[]): WorkerRows {
  let total = 0;
  for (const r of rows) total += r.data.length;
  const data = new Uint8Array(total);
  const positions = new Array<string>(rows.length);
  const recordedUs = new Float64Array(rows.length);
  const ends = new Uint32Array(rows.length);
  let offset = 0;
  rows.forEach((r, i) => {
    data.set(r.data, offset);
    offset += r.data.length;
    ends[i] = offset;
    positions[i] = encodePosition(r.position);
    recordedUs[i] = r.recorded_us;
  });
  return { data, positions, recordedUs, ends };
}

function scan(q: ScanQuery): WorkerRows {
  const where = rangeSql(q, timeToPosition);
  if (where === undefined) return packRows([]);
  const order = q.newestFirst ? "DESC" : "ASC";
  const sql = `SELECT position, recorded_us, core_len, data FROM events WHERE ${where.sql} ORDER BY position ${order} LIMIT ?`;
  return packRows(stmt(sql).all(...where.params, q.limit) as Row[]);
}

/**
 * A bounded `where` scan, evaluated here in the reader thread: the SQL narrows by index (type,
 * source, subject, correlation id, range) and reads at most maxScanned rows; only matches are
 * copied to the broker's thread.
 */
function scanWhere(q: WhereScanQuery): WorkerWherePage {
  if (!q.filter.where) throw new Error("scanWhere needs filter.where");
  const where = rangeSql(q, timeToPosition);
  if (where === undefined) return { ...packRows([]), matched: 0, scannedTo: "", done: true, errors: 0 };
  const { needles } = compileWhere(q.filter.where);
  const f = q.filter;
  const indexed = f.types !== undefined || f.sources !== undefined || f.subject !== undefined || f.correlationId !== undefined;
  if (needles && !indexed && !q.newestFirst) return scanWhereWindow(q, needles);
  const order = q.newestFirst ? "DESC" : "ASC";
  const sql = `SELECT position, recorded_us, data FROM events WHERE ${where.sql} ORDER BY position ${order} LIMIT ?`;
  const rows = stmt(sql).iterate(...where.params, q.maxScanned) as IterableIterator<Row>;
  const page = matchRows(rows, { where: q.filter.where, limit: q.limit, countOnly: q.countOnly });
  const scannedTo = page.last === undefined ? "" : encodePosition(page.last.position);
  return { ...packRows(page.rows), matched: page.matched, scannedTo, done: !page.full && page.scanned < q.maxScanned, errors: page.errors };
}

/**
 * The scan of an expression that names bytes a match must contain (WhereProgram.needles), over
 * the whole log in position order: SQLite skips the rows without them
 * itself (instr() on the blob, which is then never copied to JavaScript), and the expression runs
 * on the rest. The page covers maxScanned positions rather than rows, so it stays as bounded (with
 * an indexed column to narrow by, positions are sparse and the plain scan is used).
 */
function scanWhereWindow(q: WhereScanQuery, needles: readonly (readonly Uint8Array[])[]): WorkerWherePage {
  const bounds = sequenceBounds(q, timeToPosition);
  if (!bounds || !q.filter.where) return { ...packRows([]), matched: 0, scannedTo: "", done: true, errors: 0 };
  const last = Math.min(bounds.hi - 1, readMeta().lastPosition);
  const end = Math.min(bounds.lo + q.maxScanned, last);
  const contains = needles.map((clause) => `(${clause.map(() => "instr(data, ?) > 0").join(" OR ")})`).join(" AND ");
  // The window alone bounds the positions (no other upper bound: SQLite would take that one for the
  // rowid range and scan on to the end of the range on every page).
  const sql = `SELECT position, recorded_us, data FROM events WHERE position > ? AND position <= ? AND ${contains} ORDER BY position ASC LIMIT ?`;
  const blobs = needles.flat().map((n) => Buffer.from(n.buffer, n.byteOffset, n.byteLength));
  const rows = stmt(sql).iterate(bounds.lo, end, ...blobs, q.maxScanned) as IterableIterator<Row>;
  const page = matchRows(rows, { where: q.filter.where, limit: q.limit, countOnly: q.countOnly });
  const packed = packRows(page.rows);
  if (page.full && page.last) return { ...packed, matched: page.matched, scannedTo: encodePosition(page.last.position), done: false, errors: page.errors };
  return { ...packed, matched: page.matched, scannedTo: end > bounds.lo ? encodePosition(end) : "", done: end >= last, errors: page.errors };
}

function count(range: StoreRange): number {
  const where = rangeSql(range, timeToPosition);
  if (where === undefined) return 0;
  return (stmt(`SELECT count(*) AS n FROM events WHERE ${where.sql}`).get(...where.params) as { n: number }).n;
}

/** The first position recorded at or after `us` (recorded time is monotonic in position). */
function timeToPosition(us: number): number | undefined {
  const row = stmt("SELECT position FROM commits WHERE recorded_us >= ? ORDER BY recorded_us, position LIMIT 1").get(us) as
    | { position: number }
    | undefined;
  return row?.position;
}

/**
 * Deletes at most EXPIRE_CHUNK events recorded before `beforeUs`, oldest first, in one
 * transaction; the caller repeats while a full chunk was deleted. Once less than a chunk is left,
 * the commits rows below the oldest event go too.
 */
function expire(beforeUs: number): number {
  const end = timeToPosition(beforeUs) ?? readMeta().lastPosition + 1;
  const n = stmt(`DELETE FROM events WHERE position IN (SELECT position FROM events WHERE position < ? ORDER BY position LIMIT ${EXPIRE_CHUNK})`).run(end).changes;
  if (n < EXPIRE_CHUNK) stmt("DELETE FROM commits WHERE position < (SELECT coalesce(min(position), ?) FROM events)").run(end);
  return n;
}

/** A PASSIVE checkpoint: copies what it can of the WAL into the database without blocking writers. */
function checkpoint(): CheckpointTiming {
  const start = nowMs();
  const [r] = db.pragma("wal_checkpoint(PASSIVE)") as { busy: number; log: number; checkpointed: number }[];
  const walFrames = r?.log ?? 0;
  const backfilled = r?.checkpointed ?? 0;
  return { start, end: nowMs(), walFrames, backfilled, complete: r?.busy === 0 && backfilled === walFrames };
}

function handle(req: WorkerRequest): NonNullable<WorkerResponse["result"]> {
  switch (req.op) {
    case "append":
      return append(req.packed);
    case "get": {
      const row = stmt("SELECT position, recorded_us, core_len, data FROM events WHERE id = ?").get(req.eventId) as Row | undefined;
      return packRows(row ? [row] : []);
    }
    case "scan":
      return scan(req.query);
    case "scanWhere":
      return scanWhere(req.query);
    case "count":
      return count(req.range);
    case "head":
      return readMeta().lastPosition;
    case "expire":
      return expire(req.beforeUs);
    case "checkpoint":
      return checkpoint();
    case "ping":
      return (db.prepare("SELECT 1 AS one").get() as { one: number }).one;
    case "kvGet": {
      const row = stmt("SELECT key, value FROM kv WHERE key = ?").get(req.key) as KvEntry | undefined;
      return row ? [row] : [];
    }
    case "kvScan":
      return kvRange("key, value", req) as KvEntry[];
    case "kvKeys":
      return (kvRange("key", req) as { key: string }[]).map((r) => r.key);
    case "kvCount": {
      const conds: string[] = [];
      const params: unknown[] = [];
      prefixSql("key", req.prefix, conds, params);
      return (stmt(`SELECT count(*) AS n FROM kv WHERE ${conds.join(" AND ")}`).get(...params) as { n: number }).n;
    }
    case "kvWrite":
      return kvWriteTx.immediate(req.entries, req.expect) ? 1 : 0;
    case "close":
      db.close();
      return 0;
  }
}

parentPort?.on("message", (req: WorkerRequest) => {
  let response: WorkerResponse;
  try {
    response = { id: req.id, result: handle(req) };
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    response = { id: req.id, error: { code: typeof e.code === "string" ? e.code : "", message: String(e.message ?? err) } };
  }
  const transfer = response.result && typeof response.result === "object" && "data" in response.result ? [response.result.data.buffer] : [];
  parentPort?.postMessage(response, transfer as ArrayBuffer[]);
});
