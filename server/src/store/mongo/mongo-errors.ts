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
]);

/** True for an E11000 duplicate key error, alone or inside a bulk write. */
export function isDuplicateKey(err: unknown): boolean {
  if (!(err instanceof MongoError)) return false;
  if (err.code === 11000) return true;
  const writeErrors = (err as { writeErrors?: { code?: number }[] }).writeErrors;
  return Array.isArray(writeErrors) && writeErrors.some((w) => w.code === 11000);
}

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
  }
  // why: retryable labels mean the driver gave up after its own retries; the client may retry.
  if (err instanceof MongoError && (err.hasErrorLabel("RetryableWriteError") || err.hasErrorLabel("TransientTransactionError"))) {
    return storeUnavailable(err);
  }
  return err;
}
