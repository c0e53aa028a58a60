// Runs in a worker thread: every SQLite call of the embedded store happens here, never on the
// broker's event loop. Two workers run per store: a "writer" (appends, retention) and a "reader"
// (lookups, scans, counts, WAL checkpoints). WAL mode lets the reader work beside the writer.
import Database from "better-sqlite3";
import { parentPort, workerData } from "node:worker_threads";
import { encodePosition } from "../position.js";
import { withSuffix } from "../envelope-suffix.js";
import type { KvEntry, KvWrite, NewEvent, ScanQuery, StoreRange } from "../event-store.js";
import { sameContent } from "../same-content.js";
import { MAX_CHAR, SCHEMA_SQL, rangeSql } from "./sqlite-sql.js";
import type { PackedGroups, WorkerAppended, WorkerData, WorkerGroupOutcome, WorkerRequest, WorkerResponse, WorkerRows } from "./sqlite-protocol.js";

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

/** Appends all groups in one IMMEDIATE transaction; each group is all-or-nothing. */
const appendTx = db.transaction((groups: NewEvent[][]): WorkerGroupOutcome[] => {
  const meta = readMeta();
  let last = meta.lastPosition;
  // Recorded time never decreases along positions, even if the clock steps back or another
  // process shares the file: time ranges then map onto position ranges.
  const recordedUs = Math.max(nowUs(), meta.lastRecordedUs);
  const byId = stmt("SELECT position, recorded_us, core_len, data FROM events WHERE id = ?");
  const insert = stmt(
    "INSERT INTO events (position, id, type, source, subject, correlation_id, recorded_us, core_len, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const outcomes = groups.map((group): WorkerGroupOutcome => {
    const results: (WorkerAppended | undefined)[] = new Array(group.length);
    const firstInGroup = new Map<string, number>();
    for (let i = 0; i < group.length; i++) {
      const e = group[i] as NewEvent;
      const existing = byId.get(e.id) as Row | undefined;
      if (existing) {
        if (!sameCore(existing, e.bytes)) return { ok: false, conflict: { index: i, id: e.id, position: encodePosition(existing.position) } };
        results[i] = { position: encodePosition(existing.position), recordedUs: existing.recorded_us, duplicate: true, data: existing.data };
        continue;
      }
      const first = firstInGroup.get(e.id);
      if (first !== undefined) {
        if (!sameContent((group[first] as NewEvent).bytes, e.bytes)) {
          return { ok: false, conflict: { index: i, id: e.id, position: "" } };
        }
        continue; // filled from the first occurrence below
      }
      firstInGroup.set(e.id, i);
    }
    for (const [id, i] of firstInGroup) {
      const e = group[i] as NewEvent;
      const position = encodePosition(++last);
      const data = withSuffix(e.bytes, recordedUs, position, e.fillTime);
      insert.run(last, id, e.type, e.source, e.subject || null, e.correlationId || null, recordedUs, e.bytes.length, data);
      results[i] = { position, recordedUs, duplicate: false };
    }
    for (let i = 0; i < group.length; i++) {
      if (results[i] === undefined) {
        const first = results[firstInGroup.get((group[i] as NewEvent).id) as number] as WorkerAppended;
        results[i] = { position: first.position, recordedUs: first.recordedUs, duplicate: true };
      }
    }
    return { ok: true, events: results as WorkerAppended[] };
  });
  if (last !== meta.lastPosition) {
    const upsert = stmt("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    upsert.run("last_position", last);
    upsert.run("last_recorded_us", recordedUs);
  }
  return outcomes;
});

const kvWriteTx = db.transaction((entries: KvWrite[]) => {
  const put = stmt("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  const del = stmt("DELETE FROM kv WHERE key = ?");
  for (const e of entries) {
    if (e.value === null) del.run(e.key);
    else put.run(e.key, e.value);
  }
});

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

function count(range: StoreRange): number {
  const where = rangeSql(range, timeToPosition);
  if (where === undefined) return 0;
  return (stmt(`SELECT count(*) AS n FROM events WHERE ${where.sql}`).get(...where.params) as { n: number }).n;
}

/** The first position recorded at or after `us` (recorded time is monotonic in position). */
function timeToPosition(us: number): number | undefined {
  const row = stmt("SELECT position FROM events WHERE recorded_us >= ? ORDER BY recorded_us, position LIMIT 1").get(us) as
    | { position: number }
    | undefined;
  return row?.position;
}

function expire(beforeUs: number): number {
  const del = stmt("DELETE FROM events WHERE position IN (SELECT position FROM events WHERE recorded_us < ? ORDER BY recorded_us LIMIT 5000)");
  let total = 0;
  for (;;) {
    const n = del.run(beforeUs).changes;
    total += n;
    if (n < 5000) return total;
  }
}

function unpackGroups({ data, groups }: PackedGroups): NewEvent[][] {
  let start = 0;
  return groups.map((g) =>
    g.map(({ end, ...rest }) => {
      const bytes = data.subarray(start, end);
      start = end;
      return { ...rest, bytes };
    }),
  );
}

function handle(req: WorkerRequest): NonNullable<WorkerResponse["result"]> {
  switch (req.op) {
    case "append":
      return appendTx.immediate(unpackGroups(req.packed));
    case "get": {
      const row = stmt("SELECT position, recorded_us, core_len, data FROM events WHERE id = ?").get(req.eventId) as Row | undefined;
      return packRows(row ? [row] : []);
    }
    case "scan":
      return scan(req.query);
    case "count":
      return count(req.range);
    case "head":
      return readMeta().lastPosition;
    case "expire":
      return expire(req.beforeUs);
    case "checkpoint":
      return (db.pragma("wal_checkpoint(PASSIVE)") as unknown[]).length;
    case "ping":
      return (db.prepare("SELECT 1 AS one").get() as { one: number }).one;
    case "kvGet": {
      const row = stmt("SELECT key, value FROM kv WHERE key = ?").get(req.key) as KvEntry | undefined;
      return row ? [row] : [];
    }
    case "kvScan":
      return stmt("SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key").all(req.prefix, req.prefix + MAX_CHAR) as KvEntry[];
    case "kvWrite":
      kvWriteTx.immediate(req.entries);
      return 0;
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
