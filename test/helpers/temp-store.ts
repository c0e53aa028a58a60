// A real SQLite store in a fresh temporary directory, for integration tests of what sits on a store
// (the group runtime, the group committer, the group manager).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import type { EventStore } from "../../server/src/store/event-store.js";
import { openSqliteStore } from "../../server/src/store/sqlite/sqlite-store.js";

export interface TempStore {
  readonly store: EventStore;
  /** Closes the store, then removes its directory. */
  close(): Promise<void>;
}

/** Opens a store (`sync: normal`; a silent log unless one is given) in a new directory `<tmp>/<prefix>XXXXXX`. */
export async function openTempStore(prefix: string, log: Logger = pino({ level: "silent" })): Promise<TempStore> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const store = await openSqliteStore({ dataDir: dir, sync: "normal", log }).catch((err: unknown) => {
    remove();
    throw err;
  });
  return {
    store,
    close: async () => {
      await store.close();
      remove();
    },
  };
}
