import { MongoClient, MongoServerError, MongoWriteConcernError, type Collection, type Db } from "mongodb";
import type { EventStore } from "../event-store.js";
import { translateMongoError } from "./mongo-errors.js";
import {
  deploymentProblems,
  placement,
  planTtl,
  shardingProblems,
  writeConcernProblem,
  type ConfigCollection,
  type HelloAnswer,
  type IndexInfo,
} from "./mongo-deployment.js";
import { COUNTER_ID, DEFAULT_OPERATION_TIMEOUT_MS, MongoStore, type CounterDoc, type EventDoc, type KvDoc, type MongoStoreOptions } from "./mongo-store.js";

/** The deployment cannot keep the broker's promises as configured; the message says what to change. */
export class MongoDeploymentError extends Error {
  override name = "MongoDeploymentError";
}

const NAMESPACE_EXISTS = 48;

async function ensureCollections(db: Db): Promise<void> {
  // Created up front (not implicitly inside the first transaction), so that on a sharded cluster they
  // exist on the database's primary shard before the placement check.
  for (const name of ["events", "counters", "kv"]) {
    await db.createCollection(name).catch(ignoreCodes(NAMESPACE_EXISTS));
  }
}

async function ensureIndexes(events: Collection<EventDoc>, retentionMs: number): Promise<void> {
  await events.createIndexes([
    { key: { pos: 1 }, name: "pos", unique: true },
    { key: { type: 1, pos: 1 }, name: "type_pos" },
    { key: { source: 1, pos: 1 }, name: "source_pos" },
    { key: { subject: 1, pos: 1 }, name: "subject_pos", partialFilterExpression: { subject: { $exists: true } } },
    { key: { corr: 1, pos: 1 }, name: "corr_pos", partialFilterExpression: { corr: { $exists: true } } },
    { key: { rec: 1, pos: 1 }, name: "rec_pos" },
  ]);
  const indexes = (await events.listIndexes().toArray()) as IndexInfo[];
  const collMod = (field: string, expireAfterSeconds: number) =>
    events.db.command({ collMod: events.collectionName, index: { keyPattern: { [field]: 1 }, expireAfterSeconds } });
  for (const action of planTtl(indexes, retentionMs)) {
    // why: another broker starting at the same time may have done the same change first.
    if (action.op === "drop") await events.dropIndex(action.name).catch(ignoreCodes(INDEX_NOT_FOUND));
    else if (action.op === "collMod") await collMod(action.field, action.expireAfterSeconds);
    else {
      await events.createIndex({ [action.field]: 1 }, { name: action.name, expireAfterSeconds: action.expireAfterSeconds }).catch(async (err: unknown) => {
        if (!(err instanceof MongoServerError && err.code === INDEX_OPTIONS_CONFLICT)) throw err;
        await collMod(action.field, action.expireAfterSeconds);
      });
    }
  }
}

const INDEX_NOT_FOUND = 27;
const INDEX_OPTIONS_CONFLICT = 85;

/** A rejection handler that swallows the given server error codes and rethrows anything else. */
function ignoreCodes(...codes: number[]): (err: unknown) => void {
  return (err) => {
    if (!(err instanceof MongoServerError && typeof err.code === "number" && codes.includes(err.code))) throw err;
  };
}

const UNAUTHORIZED = 13;

/** On a mongos: `events` and `counters` must be unsharded and on one shard (mongo-deployment.ts). */
async function checkSharding(client: MongoClient, options: MongoStoreOptions): Promise<string[]> {
  try {
    return await readPlacements(client, options.database);
  } catch (err) {
    // why: an application user often may not read the config database; the check is a safety net,
    // README states the requirement, so say the check was skipped rather than refuse to start.
    if (!(err instanceof MongoServerError && err.code === UNAUTHORIZED)) throw err;
    options.log.warn({ err }, "cannot read the config database: not checking that 'events' and 'counters' are unsharded on one shard");
    return [];
  }
}

async function readPlacements(client: MongoClient, database: string): Promise<string[]> {
  const config = client.db("config");
  const primary = (await config.collection<{ _id: string; primary?: string }>("databases").findOne({ _id: database }))?.primary;
  const where = async (name: string) => {
    const entry = await config.collection<ConfigCollection & { _id: string; uuid?: unknown }>("collections").findOne({ _id: `${database}.${name}` });
    const chunk = entry?.uuid === undefined ? null : await config.collection<{ shard: string }>("chunks").findOne({ uuid: entry.uuid });
    return placement(entry ?? undefined, chunk?.shard, primary);
  };
  return shardingProblems(await where("events"), await where("counters"));
}

/**
 * Connects to MongoDB, checks that the deployment can keep the broker's promises, and prepares the
 * collections and indexes.
 * @throws MongoDeploymentError when the deployment or BROKER_MONGODB_* settings cannot work
 * @throws DomainError STORE_UNAVAILABLE when the deployment cannot be reached
 */
export async function openMongoStore(options: MongoStoreOptions): Promise<EventStore> {
  const timeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
  // Values in the URL win over ours. The socket timeout is the last bound on an operation the
  // server never answers (commits have no client-side abort in driver 7.9: CSOT timeoutMS is ignored).
  const has = (name: string) => new RegExp(`[?&]${name}=`, "i").test(options.url);
  const client = new MongoClient(options.url, {
    useBigInt64: true,
    promoteBuffers: false,
    ...(has("serverSelectionTimeoutMS") ? {} : { serverSelectionTimeoutMS: timeoutMs }),
    ...(has("socketTimeoutMS") ? {} : { socketTimeoutMS: 3 * timeoutMs }),
  });
  try {
    await client.connect();
    const hello = (await client.db("admin").command({ hello: 1 })) as HelloAnswer;
    const problems = deploymentProblems(hello, client.readPreference.mode);
    if (problems.length > 0) throw new MongoDeploymentError(problems.join("; "));
    const db = client.db(options.database);
    await ensureCollections(db);
    if (hello.msg === "isdbgrid") {
      const sharding = await checkSharding(client, options);
      if (sharding.length > 0) throw new MongoDeploymentError(sharding.join("; "));
    }
    const events = db.collection<EventDoc>("events");
    const counters = db.collection<CounterDoc>("counters");
    await ensureIndexes(events, options.retentionMs);
    await probeWriteConcern(counters, options, timeoutMs);
    if (options.writeConcern !== "majority") {
      options.log.warn({ writeConcern: options.writeConcern }, "BROKER_MONGODB_WRITE_CONCERN below majority: acknowledged events can be rolled back by a failover");
    }
    options.log.info({ database: options.database }, "mongodb store ready");
    return new MongoStore(client, events, counters, db.collection<KvDoc>("kv"), options);
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err instanceof MongoDeploymentError ? err : translateMongoError(err);
  }
}

/** Writes the counter once with the configured write concern: an impossible one fails here, not on every append. */
async function probeWriteConcern(counters: Collection<CounterDoc>, options: MongoStoreOptions, timeoutMs: number): Promise<void> {
  const w = options.writeConcern;
  try {
    await counters.updateOne({ _id: COUNTER_ID }, { $setOnInsert: { seq: 0n, lastRecUs: 0n } }, { upsert: true, writeConcern: { w, journal: true, wtimeoutMS: timeoutMs } });
  } catch (err) {
    const problem = writeConcernProblem(err instanceof MongoServerError ? (err.code as number | undefined) : undefined, w);
    if (problem !== undefined) throw new MongoDeploymentError(problem);
    // why: a majority out of reach right now (a member down) is an outage the health check reports,
    // not a reason to refuse to start.
    if (!(err instanceof MongoWriteConcernError)) throw err;
    options.log.warn({ err }, "the write concern was not satisfied in time at start-up; appends will fail until it is");
  }
}
