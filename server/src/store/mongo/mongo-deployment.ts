// What the MongoDB store checks about its deployment when it opens, as pure functions of what the
// server answered, so each rule has a unit test without a server. A broker that cannot keep its
// promises on this deployment refuses to start with a message naming the setting to change.

/** The fields of the `hello` answer the checks use. */
export interface HelloAnswer {
  setName?: string;
  /** "isdbgrid" on a mongos. */
  msg?: string;
}

/**
 * Problems that make every append fail, or make acknowledged events unsafe.
 * @param readPreference the mode the connection string asked for (the client's default)
 */
export function deploymentProblems(hello: HelloAnswer, readPreference: string): string[] {
  const problems: string[] = [];
  // why: multi-document transactions need a replica set or a sharded cluster (MongoDB manual,
  // "Transactions > Production Considerations"); a standalone fails every append with code 20/263.
  if (hello.setName === undefined && hello.msg !== "isdbgrid") {
    problems.push("MongoDB must be a replica set or a sharded cluster (transactions are required); a standalone server is not supported: start it with --replSet");
  }
  // why: "read preference in a transaction must be primary" (manual, "Transactions and Read
  // Preference"): a URL with secondary reads would fail every append.
  if (readPreference !== "primary") {
    problems.push(`BROKER_MONGODB_URL asks for readPreference=${readPreference}; the broker's transactions need 'primary': remove readPreference from the URL`);
  }
  return problems;
}

/** Server error code of a write concern that this replica set can never satisfy. */
export const UNSATISFIABLE_WRITE_CONCERN = 100;
/** Server error code of a write concern naming an unknown tag set. */
export const UNKNOWN_REPL_WRITE_CONCERN = 79;

/** The message to refuse to start with when the start-up probe write failed for good, or undefined. */
export function writeConcernProblem(code: number | undefined, writeConcern: "majority" | number): string | undefined {
  if (code !== UNSATISFIABLE_WRITE_CONCERN && code !== UNKNOWN_REPL_WRITE_CONCERN) return undefined;
  return `BROKER_MONGODB_WRITE_CONCERN=${writeConcern} cannot be satisfied by this deployment (more data-bearing members than it has): lower it or use 'majority'`;
}

/** Where one of the store's collections lives on a sharded cluster. */
export interface CollectionPlacement {
  /** The collection is sharded (split across shards by a shard key). */
  sharded: boolean;
  /** The shard holding it when unsharded. */
  shard: string | undefined;
}

/**
 * The store commits `events` and `counters` in one transaction and reads them separately with read
 * concern "majority". On a sharded cluster that is only all-or-nothing to readers when both live
 * on one shard: outside transactions, reads "can see partial results of a multi-shard transaction"
 * (manual, "Transactions > Transactions and Atomicity"). So both must be unsharded, on one shard.
 */
export function shardingProblems(events: CollectionPlacement, counters: CollectionPlacement): string[] {
  const problems: string[] = [];
  for (const [name, c] of [["events", events], ["counters", counters]] as const) {
    if (c.sharded) problems.push(`the '${name}' collection is sharded; the broker needs 'events' and 'counters' unsharded, on one shard`);
  }
  if (problems.length === 0 && events.shard !== undefined && counters.shard !== undefined && events.shard !== counters.shard) {
    problems.push(`'events' is on shard '${events.shard}' and 'counters' on '${counters.shard}'; move them to one shard (moveCollection)`);
  }
  return problems;
}

/** An entry of `config.collections` (MongoDB 8.0 tracks moved unsharded collections there too). */
export interface ConfigCollection {
  unsplittable?: boolean;
}

/**
 * Placement of a collection from its `config.collections` entry (absent: never sharded or moved, so
 * on the database's primary shard) and the shard of its chunk.
 */
export function placement(entry: ConfigCollection | undefined, chunkShard: string | undefined, primaryShard: string | undefined): CollectionPlacement {
  if (entry === undefined) return { sharded: false, shard: primaryShard };
  return entry.unsplittable === true ? { sharded: false, shard: chunkShard } : { sharded: true, shard: undefined };
}

/** An index as `listIndexes` describes it. */
export interface IndexInfo {
  name: string;
  key: Record<string, unknown>;
  expireAfterSeconds?: number;
}

export type TtlAction =
  | { op: "drop"; name: string }
  | { op: "create"; name: string; field: string; expireAfterSeconds: number }
  | { op: "collMod"; field: string; expireAfterSeconds: number };

export const TTL_INDEX = "recorded_ttl";
export const TTL_FIELD = "at";
/** The old index on a per-document expiry date fixed at insert time (retention could not change). */
const LEGACY_TTL_INDEX = "ttl";
/** Largest expireAfterSeconds the server accepts (a signed 32-bit integer of seconds). */
export const MAX_EXPIRE_AFTER_SECONDS = 2_147_483_647;

/**
 * What to change so that events expire `retentionMs` after their recorded time, whatever the
 * retention was when they were stored: the TTL monitor deletes a document once its indexed date is
 * older than expireAfterSeconds (manual, "TTL Indexes"), and `collMod` changes expireAfterSeconds of
 * an existing index in place (manual, "collMod > Change Expiration Value for Indexes"), where
 * `createIndexes` with another value would fail with IndexOptionsConflict.
 */
export function planTtl(indexes: readonly IndexInfo[], retentionMs: number): TtlAction[] {
  const want = Math.min(MAX_EXPIRE_AFTER_SECONDS, Math.ceil(retentionMs / 1000));
  const actions: TtlAction[] = [];
  if (indexes.some((i) => i.name === LEGACY_TTL_INDEX)) actions.push({ op: "drop", name: LEGACY_TTL_INDEX });
  const current = indexes.find((i) => i.name === TTL_INDEX);
  if (current === undefined) actions.push({ op: "create", name: TTL_INDEX, field: TTL_FIELD, expireAfterSeconds: want });
  else if (current.expireAfterSeconds !== want) actions.push({ op: "collMod", field: TTL_FIELD, expireAfterSeconds: want });
  return actions;
}
