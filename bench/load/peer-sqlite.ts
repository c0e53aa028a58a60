// The raw SQLite peer: the embedded store's schema and settings, batched inserts of 500-byte rows
// in one thread (rows/s), then a full read in position order (rows/s).
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newEventId } from "../../sdk/src/index.js";
import { SCHEMA_SQL } from "../../server/src/store/sqlite/sqlite-sql.js";
import { args, report } from "../lib/stats.js";

const { count, batch, sync } = args<{ count: number; batch: number; sync: "full" | "normal" }>();
const dir = mkdtempSync(join(tmpdir(), "peer-sqlite-"));
const db = new Database(join(dir, "peer.db"));
db.pragma("journal_mode = WAL");
db.pragma(`synchronous = ${sync === "full" ? "FULL" : "NORMAL"}`);
db.exec(SCHEMA_SQL);
const insert = db.prepare("INSERT INTO events (position, id, type, source, subject, correlation_id, recorded_us, core_len, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
const data = Buffer.alloc(500, 7);
const ids = Array.from({ length: count }, () => newEventId());
let pos = 0;
const tx = db.transaction((n: number) => {
  for (let i = 0; i < n && pos < count; i++) insert.run(++pos, ids[pos - 1], "comment.created", "peer", `book/b-${pos % 97}`, null, Date.now() * 1000, 480, data);
});
const t0 = performance.now();
while (pos < count) tx.immediate(batch);
const insertMs = performance.now() - t0;
const t1 = performance.now();
let read = 0;
for (const _ of db.prepare("SELECT position, recorded_us, data FROM events ORDER BY position").iterate()) read++;
const readMs = performance.now() - t1;
db.close();
rmSync(dir, { recursive: true, force: true });
report({ rows: count, batch, insertPerSec: (count / insertMs) * 1000, readPerSec: (read / readMs) * 1000 });
