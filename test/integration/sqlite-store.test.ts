import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { pino } from "pino";
import { ErrorReason } from "../../sdk/src/index.js";
import { DomainError } from "../../server/src/errors.js";
import { prepareEvent } from "../../server/src/services/prepare-event.js";
import type { EventStore } from "../../server/src/store/event-store.js";
import { DB_FILE_NAME, openSqliteStore } from "../../server/src/store/sqlite/sqlite-store.js";
import { sampleEvent } from "../helpers/sample-events.js";

describe("SQLite store", () => {
  let dir: string;
  let store: EventStore;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "sqlite-store-"));
    store = await openSqliteStore({ dataDir: dir, sync: "full", log: pino({ level: "silent" }), busyTimeoutMs: 200 });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers STORE_UNAVAILABLE, and acknowledges nothing, while another process holds the write lock", async () => {
    const intruder = new Database(join(dir, DB_FILE_NAME));
    intruder.exec("BEGIN EXCLUSIVE");
    const e = prepareEvent(sampleEvent("like.added"), { maxEventBytes: 1 << 20 });
    try {
      await assert.rejects(store.append([[e]]), (err: unknown) => err instanceof DomainError && err.reason === ErrorReason.STORE_UNAVAILABLE);
    } finally {
      intruder.exec("ROLLBACK");
      intruder.close();
    }
    assert.equal(await store.get(e.id), undefined);
    const [outcome] = await store.append([[e]]);
    assert.equal(outcome?.ok, true);
  });

  it("keeps serving reads while a long write transaction runs elsewhere (WAL)", async () => {
    const intruder = new Database(join(dir, DB_FILE_NAME));
    intruder.exec("BEGIN IMMEDIATE");
    try {
      assert.ok((await store.count({ filter: {} })) >= 1);
    } finally {
      intruder.exec("ROLLBACK");
      intruder.close();
    }
  });

  it("checkpoints and removes its WAL when closed, every time", async () => {
    // Closing the writer and the reader connections at once could leave the WAL behind (each saw
    // the other still open): it was replayed at the next start, and took as much disk as the data.
    for (let round = 0; round < 6; round++) {
      const d = mkdtempSync(join(tmpdir(), "sqlite-close-"));
      try {
        const s = await openSqliteStore({ dataDir: d, sync: "normal", log: pino({ level: "silent" }) });
        const events = Array.from({ length: 20_000 }, () => prepareEvent(sampleEvent("like.added"), { maxEventBytes: 1 << 20 }));
        await s.append([events]);
        await s.close();
        assert.equal(existsSync(join(d, `${DB_FILE_NAME}-wal`)), false, `round ${round}: the WAL is still there`);
        const db = new Database(join(d, DB_FILE_NAME), { readonly: true });
        assert.equal((db.prepare("SELECT count(*) AS n FROM events").get() as { n: number }).n, 20_000);
        db.close();
      } finally {
        rmSync(d, { recursive: true, force: true });
      }
    }
  });
});
