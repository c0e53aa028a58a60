// The stored-event `where` scan alone, without a broker or a worker thread: SQLite rows read the
// way the reader thread reads them, matched by matchRows (server/src/cel/cel-match.ts). Prints events scanned per second for the
// plain read and for a few expressions, so the cost of matching is the difference.
//   node --import tsx bench/micro/where-scan.ts [events=200000]
import Database from "better-sqlite3";
import { newEvent, newEventId, TargetType, eventToBinary } from "../../sdk/src/index.js";
import { withSuffix } from "../../server/src/store/envelope-suffix.js";
import { SCHEMA_SQL } from "../../server/src/store/sqlite/sqlite-sql.js";
import { matchRows } from "../../server/src/cel/cel-match.js";
import { compileWhere } from "../../server/src/cel/cel-where.js";
import { benchEvent } from "../lib/events.js";

const N = Number(process.argv[2] ?? 200_000);
const EXPRESSIONS = (process.env["WHERE_EXPRESSIONS"]?.split("\n") ?? [
  'event.comment_created.target_id == "b-hit"',
  'event.source == "preload" && event.metadata["tenant"] == "t1"',
  'event.time > now - duration("1h")',
  'event.type in ["comment.created", "like.added"] && event.subject.startsWith("book/")',
]).filter((x) => x !== "");

const db = new Database(":memory:");
db.exec(SCHEMA_SQL);
const like = newEvent("like.added", { userId: "u", targetType: TargetType.BOOK, targetId: "b" }, { source: "preload" });
const comment = benchEvent("preload");
const hit = benchEvent("preload");
if (hit.payload.case === "commentCreated") hit.payload.value.targetId = "b-hit";
const insert = db.prepare("INSERT INTO events (position, id, type, source, recorded_us, core_len, data) VALUES (?, ?, ?, ?, ?, ?, ?)");
db.transaction(() => {
  for (let i = 1; i <= N; i++) {
    const e = i % 10 === 0 ? like : i % 100 === 1 ? hit : comment;
    e.id = newEventId();
    const core = eventToBinary(e);
    insert.run(i, e.id, e.type, e.source, Date.now() * 1000, core.length, withSuffix(core, Date.now() * 1000, String(i), true));
  }
})();
const select = db.prepare("SELECT position, recorded_us, core_len, data FROM events WHERE position > ? ORDER BY position ASC LIMIT ?");

/** Best of five runs (the machine is shared): wall-clock rate, and CPU µs per event. */
function timed(name: string, f: () => number): void {
  let best = Infinity;
  let bestCpu = Infinity;
  let matched = 0;
  f(); // warm up (JIT, statement cache)
  for (let i = 0; i < 5; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    matched = f();
    best = Math.min(best, performance.now() - t0);
    const c = process.cpuUsage(c0);
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1000);
  }
  const rate = Math.round((N / best) * 1000).toLocaleString("en");
  console.log(`${name.padEnd(90)} ${rate.padStart(10)} ev/s  ${((best * 1000) / N).toFixed(2)} µs/ev wall  ${((bestCpu * 1000) / N).toFixed(2)} µs/ev CPU  matched ${matched}`);
}

const query = (expression: string) => ({ where: { expression }, limit: Number.MAX_SAFE_INTEGER, countOnly: true });
const inMemory = (select.all(0, N) as { position: number; data: Buffer }[]);
timed("plain SQLite read", () => {
  let n = 0;
  for (const r of select.iterate(0, N) as IterableIterator<{ data: Buffer }>) n += r.data.length > 0 ? 0 : 1;
  return n;
});
for (const expression of EXPRESSIONS) {
  timed(`SQLite + ${expression}`, () => matchRows(select.iterate(0, N) as IterableIterator<{ data: Buffer }>, query(expression)).matched);
  // What the reader thread runs when the expression names needles (sqlite-worker.ts, scanWhereWindow).
  const needles = compileWhere({ expression }).needles;
  if (needles) {
    const contains = needles.map((clause) => `(${clause.map(() => "instr(data, ?) > 0").join(" OR ")})`).join(" AND ");
    const narrowed = db.prepare(`SELECT position, recorded_us, data FROM events WHERE position > ? AND ${contains} ORDER BY position ASC LIMIT ?`);
    const blobs = needles.flat().map((n) => Buffer.from(n));
    timed(`  SQLite skipping rows without ${contains.replace(/instr\(data, \?\) > 0/g, "x")}`, () => matchRows(narrowed.iterate(0, ...blobs, N) as IterableIterator<{ data: Buffer }>, query(expression)).matched);
  }
  timed(`  matching alone (rows in memory)`, () => matchRows(inMemory, query(expression)).matched);
}
