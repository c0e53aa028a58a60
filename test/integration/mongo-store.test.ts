// MongoDB-only behaviour of the store (issue 19), run whenever TEST_MONGODB_URL names a replica set:
// start-up checks, the TTL on the recorded time and the byte cap of a commit.
// The behaviour every store shares is in store-contract.test.ts.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { MongoClient } from "mongodb";
import { pino } from "pino";
import { newEventId } from "../../sdk/src/index.js";
import type { EventStore, NewEvent } from "../../server/src/store/event-store.js";
import { GroupCommitter } from "../../server/src/store/group-commit.js";
import { MongoDeploymentError, openMongoStore } from "../../server/src/store/mongo/mongo-open.js";
import { MONGO_MAX_COMMIT_BYTES, type MongoStoreOptions } from "../../server/src/store/mongo/mongo-store.js";
import { TTL_INDEX } from "../../server/src/store/mongo/mongo-deployment.js";

const url = process.env["TEST_MONGODB_URL"] ?? process.env["BROKER_MONGODB_URL"];
const log = pino({ level: "silent" });
const DAY_MS = 86_400_000;

function withParam(base: string, param: string): string {
  return `${base}${base.includes("?") ? "&" : base.replace(/^mongodb(\+srv)?:\/\//, "").includes("/") ? "?" : "/?"}${param}`;
}

/** An event of `size` opaque bytes: the store keeps bytes as given. */
function bulky(size: number): NewEvent {
  return { id: newEventId(), type: "like.added", source: "mongo-test", subject: "", correlationId: "", bytes: new Uint8Array(size), fillTime: false };
}

describe("MongoDB store", { skip: url === undefined ? "set TEST_MONGODB_URL to a replica set" : false }, () => {
  const database = `broker_test_${randomUUID().replace(/-/g, "")}`;
  const options = (): MongoStoreOptions => ({ url: url as string, database, writeConcern: "majority", retentionMs: DAY_MS, log });
  let store: EventStore;
  before(async () => (store = await openMongoStore(options())));
  after(async () => {
    await store?.close();
    const client = new MongoClient(url as string);
    try {
      await client.db(database).dropDatabase();
    } finally {
      await client.close();
    }
  });

  it("refuses to start with a secondary read preference (every append would fail)", async () => {
    await assert.rejects(openMongoStore({ ...options(), url: withParam(url as string, "readPreference=secondaryPreferred") }), MongoDeploymentError);
  });

  it("refuses to start with a write concern the replica set cannot satisfy", async () => {
    await assert.rejects(openMongoStore({ ...options(), writeConcern: 50 }), MongoDeploymentError);
  });

  it("expires on the recorded time, and a new retention applies to stored events (collMod at start-up)", async () => {
    const client = new MongoClient(url as string);
    try {
      const events = client.db(database).collection("events");
      const ttl = async () => (await events.listIndexes().toArray()).find((i) => i["name"] === TTL_INDEX);
      assert.deepEqual({ key: (await ttl())?.["key"], after: (await ttl())?.["expireAfterSeconds"] }, { key: { at: 1 }, after: 86_400 });
      const reopened = await openMongoStore({ ...options(), retentionMs: 30 * DAY_MS });
      await reopened.close();
      assert.equal((await ttl())?.["expireAfterSeconds"], 30 * 86_400);
      const e = bulky(10);
      const [outcome] = await store.append([[e]]);
      assert.ok(outcome?.ok);
      const doc = await events.findOne({ _id: e.id as never });
      assert.equal((doc?.["at"] as Date).getTime(), Math.floor(outcome.events[0]!.recordedUs / 1000));
    } finally {
      await client.close();
    }
  });

  it("caps one commit in bytes as well as events", async () => {
    const commits: number[] = [];
    const committer = new GroupCommitter(store, { maxPendingEvents: 1_000, onCommitted: (events) => commits.push(events.length) });
    const size = 1 << 20;
    const n = Math.ceil((MONGO_MAX_COMMIT_BYTES * 1.5) / size);
    await Promise.all(Array.from({ length: n }, () => committer.submit([bulky(size)])));
    await committer.drain();
    assert.ok(commits.length >= 2, `${n} events of 1 MiB went into ${commits.length} commit(s)`);
    for (const c of commits) assert.ok(c * size <= MONGO_MAX_COMMIT_BYTES);
  });
});
