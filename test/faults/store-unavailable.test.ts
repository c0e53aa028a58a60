// The store made unavailable under a running broker process: UNAVAILABLE, and no false ack.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { BrokerError, Code, ErrorReason, TargetType, createBrokerClient, newEvent, type BrokerClient } from "../../sdk/src/index.js";
import { runBrokerExpectingFailure, spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";

const like = (u: string) => newEvent("like.added", { userId: u, targetType: TargetType.BOOK, targetId: "b1" }, { source: "outage-svc" });

function chattr(flag: "+i" | "-i", files: string[]): boolean {
  try {
    execFileSync("chattr", [flag, ...files], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function expectUnavailable(client: BrokerClient, user: string): Promise<string> {
  const e = like(user);
  await assert.rejects(client.publish(e), (err: unknown) => err instanceof BrokerError && err.code === Code.UNAVAILABLE && err.reason === ErrorReason.STORE_UNAVAILABLE);
  return e.id;
}

describe("store unavailable", () => {
  let dir: string;
  let broker: BrokerProcess;
  let client: BrokerClient;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fault-store-"));
    broker = await spawnBroker({ BROKER_DATA_DIR: dir, BROKER_SQLITE_SYNC: "full" });
    client = createBrokerClient({ address: broker.address, retries: 0 });
  });
  after(async () => {
    client.close();
    await broker.stop();
    chattr("-i", [join(dir, "events.db"), join(dir, "events.db-wal")]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers UNAVAILABLE while another process holds the database's write lock, then recovers", async () => {
    await client.publish(like("before"));
    const intruder = new Database(join(dir, "events.db"));
    intruder.pragma("busy_timeout = 0");
    intruder.exec("BEGIN EXCLUSIVE");
    let refused: string;
    try {
      refused = await expectUnavailable(client, "during-lock");
    } finally {
      intruder.exec("ROLLBACK");
      intruder.close();
    }
    await assert.rejects(client.getEvent(refused), (err: unknown) => err instanceof BrokerError && err.code === Code.NOT_FOUND);
    await client.publish(like("after-lock"));
  });

  it("answers UNAVAILABLE while the database files are read-only (immutable), then recovers", async (t) => {
    const files = [join(dir, "events.db"), join(dir, "events.db-wal")];
    if (!chattr("+i", files)) {
      t.skip("chattr +i is not available here");
      return;
    }
    let refused: string;
    try {
      refused = await expectUnavailable(client, "read-only");
    } finally {
      chattr("-i", files);
    }
    await assert.rejects(client.getEvent(refused), (err: unknown) => err instanceof BrokerError && err.code === Code.NOT_FOUND);
    const ack = await client.publish(like("after-read-only"));
    assert.equal(ack.duplicate, false);
    assert.equal(await client.countEvents({ sources: ["outage-svc"] }), 3);
  });

  it("does not start on a MongoDB URL that refuses, and says why", async () => {
    const { code, stdout, stderr } = await runBrokerExpectingFailure({
      BROKER_GRPC_PORT: "0",
      BROKER_MONGODB_URL: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&directConnection=true",
    });
    // A setting that cannot be used: one line on stderr naming it, exit code 2 (issue 12).
    assert.equal(code, 2);
    assert.match(stderr, /^broker: BROKER_MONGODB_URL: cannot open the MongoDB store \(the event store is unavailable: .+\)\n$/);
    assert.equal(stdout, "");
  });
});
