// How the MongoDB store reads. Every read uses read concern "majority", so nothing a failover can
// roll back is ever returned (MongoDB manual, "Read Concern majority": the data read has been
// acknowledged by a majority and is durable). Reads are also causally ordered across the store:
// each runs in a causally consistent session advanced to the latest operation time any earlier read
// or commit of this store observed, so the driver sends `afterClusterTime` and the server waits
// until its majority snapshot has caught up (manual, "Causal Consistency and Read and Write
// Concerns": majority reads + majority writes give read-your-writes and monotonic reads). Hence a
// scan that follows a head read sees every event up to that head, even after a failover to a member
// whose majority snapshot lagged. One session per read: a ClientSession must not be used by
// concurrent operations, and sessions come from the driver's pool.
import type { ClientSession, MongoClient, ReadConcernLike, Timestamp } from "mongodb";
import type { ReadLimits } from "../event-store.js";

/** The later of two operation times. */
export function laterTime(a: Timestamp | undefined, b: Timestamp | undefined): Timestamp | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.greaterThan(a) ? b : a;
}

/**
 * The server-side time limit of a read: what is left of the caller's deadline, capped by the store's
 * operation timeout, and at least 1 ms (maxTimeMS 0 would mean "no limit").
 */
export function readMaxTimeMs(capMs: number, limits: ReadLimits | undefined, nowMs: number): number {
  const left = limits?.deadlineMs === undefined ? capMs : limits.deadlineMs - nowMs;
  return Math.max(1, Math.min(capMs, Math.floor(left)));
}

export const MAJORITY: ReadConcernLike = { level: "majority" };

/** Hands out causally consistent sessions that start after everything this store has seen. */
export class CausalReads {
  private seen: Timestamp | undefined;

  constructor(private readonly client: MongoClient) {}

  /** The latest operation time observed (undefined before the first answer). */
  get operationTime(): Timestamp | undefined {
    return this.seen;
  }

  /** Records what a session (a read, or a committed transaction) has observed. */
  observe(session: ClientSession): void {
    this.seen = laterTime(this.seen, session.operationTime);
  }

  /** Runs `read` in a fresh causally consistent session, then records its operation time. */
  async run<T>(read: (session: ClientSession) => Promise<T>): Promise<T> {
    const session = this.client.startSession({ causalConsistency: true });
    if (this.seen) session.advanceOperationTime(this.seen);
    try {
      const result = await read(session);
      this.observe(session);
      return result;
    } finally {
      await session.endSession();
    }
  }
}
