import {
  MongoClientClosedError,
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from "mongodb";
import { storeUnavailable } from "../../errors.js";

/** Server error codes that mean the deployment cannot take the write now. */
const UNAVAILABLE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
  64, // WriteConcernFailed (e.g. majority not reachable in time)
  134, // ReadConcernMajorityNotAvailableYet (a member still starting up)
  13388, // StaleConfig (shard routing being refreshed, e.g. during a migration)
  112, // WriteConflict (outside a transaction's retries: a concurrent writer won)
  251, // NoSuchTransaction (aborted under us, e.g. by a failover or the transaction lifetime limit)
]);

/** Server error codes of an operation stopped before it finished: nothing more is known. */
const INTERRUPTED_CODES = new Set([
  50, // MaxTimeMSExpired: our maxTimeMS / maxCommitTimeMS ran out
  262, // ExceededTimeLimit: a server-side time limit (e.g. a lock or a mongos wait) ran out
  11601, // Interrupted: killOp, or the server noticed the client went away
  290, // TransactionExceededLifetimeLimitSeconds
]);

/** Server error codes of a deployment that cannot take our writes as configured. */
const MISCONFIGURED_CODES = new Set([
  100, // UnsatisfiableWriteConcern: w larger than the data-bearing members
  79, // UnknownReplWriteConcern: a tag set the replica set does not define
  13, // Unauthorized: the URL's user lacks readWrite on the database
  18, // AuthenticationFailed
]);

/**
 * Translates a driver error into the broker's vocabulary where it happens; anything unrecognised is
 * rethrown as is and becomes INTERNAL at the gRPC boundary.
 */
export function translateMongoError(err: unknown): unknown {
  // why: no server can be selected (down, wrong URL, network split): an outage, retry later.
  if (err instanceof MongoServerSelectionError || err instanceof MongoNetworkError) return storeUnavailable(err);
  // why: the store was closed (shutdown) while a call was still using it.
  if (err instanceof MongoTopologyClosedError || err instanceof MongoNotConnectedError || err instanceof MongoClientClosedError) return storeUnavailable(err);
  if (err instanceof MongoServerError) {
    // why: an election or shutdown in progress, or a write concern that cannot be met now.
    if (typeof err.code === "number" && UNAVAILABLE_CODES.has(err.code)) return storeUnavailable(err);
    // why: transactions need a replica set; a standalone server cannot keep positions ordered.
    if (err.code === 20 || err.code === 263) return storeUnavailable(err, "MongoDB must be a replica set or sharded cluster (transactions are required)");
    // why: a time limit ran out or the operation was killed: the store did not answer in time;
    // a commit stopped this way may still have committed, and the retry then finds a duplicate.
    if (typeof err.code === "number" && INTERRUPTED_CODES.has(err.code)) return storeUnavailable(err, "the event store did not answer in time");
    // why: no retry helps until the deployment or BROKER_MONGODB_* changes; say so, not INTERNAL.
    if (typeof err.code === "number" && MISCONFIGURED_CODES.has(err.code)) return storeUnavailable(err, `the event store refuses the broker's writes (${err.codeName ?? err.code}): check BROKER_MONGODB_URL and BROKER_MONGODB_WRITE_CONCERN`);
  }
  // why: the store's own time limit on an operation (an AbortSignal.timeout) ran out.
  if (err instanceof DOMException && err.name === "TimeoutError") return storeUnavailable(err, "the event store did not answer in time");
  // why: retryable labels mean the driver gave up after its own retries; the client may retry.
  if (err instanceof MongoError && (err.hasErrorLabel("RetryableWriteError") || err.hasErrorLabel("TransientTransactionError") || err.hasErrorLabel("UnknownTransactionCommitResult"))) {
    return storeUnavailable(err);
  }
  return err;
}
