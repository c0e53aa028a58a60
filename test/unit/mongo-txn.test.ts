// Issue 19, items 5-7: the append transaction's retries are bounded in time and follow the drivers'
// transactions spec; server codes map to a status instead of INTERNAL.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { MongoClient, MongoNetworkError, MongoServerError } from "mongodb";
import { nextTxnStep, runTransaction, txnBackoffMs } from "../../server/src/store/mongo/mongo-txn.js";
import { translateMongoError } from "../../server/src/store/mongo/mongo-errors.js";
import { DomainError } from "../../server/src/errors.js";
import { ErrorReason } from "../../sdk/src/index.js";

const serverError = (code: number, labels: string[] = [], codeName = "X") => new MongoServerError({ message: `code ${code}`, code, codeName, errorLabels: labels });

describe("nextTxnStep()", () => {
  it("retries the whole transaction on a transient error, within the budget", () => {
    const conflict = serverError(112, ["TransientTransactionError"], "WriteConflict");
    assert.equal(nextTxnStep(conflict, "body", 100, 10_000), "retry-transaction");
    assert.equal(nextTxnStep(conflict, "commit", 100, 10_000), "retry-transaction");
    assert.equal(nextTxnStep(conflict, "body", 9_990, 10_000, 20), "give-up");
    assert.equal(nextTxnStep(conflict, "body", 10_000, 10_000), "give-up");
  });

  it("retries only the commit when its result is unknown, but not after our own maxCommitTimeMS", () => {
    assert.equal(nextTxnStep(serverError(189, ["UnknownTransactionCommitResult"]), "commit", 0, 10_000), "retry-commit");
    assert.equal(nextTxnStep(serverError(50, ["UnknownTransactionCommitResult"], "MaxTimeMSExpired"), "commit", 0, 10_000), "give-up");
    // In the body, the label cannot apply: nothing was being committed.
    assert.equal(nextTxnStep(serverError(189, ["UnknownTransactionCommitResult"]), "body", 0, 10_000), "give-up");
  });

  it("gives up on a duplicate key (no transient label) and on anything that is not a driver error", () => {
    assert.equal(nextTxnStep(serverError(11000, [], "DuplicateKey"), "body", 0, 10_000), "give-up");
    assert.equal(nextTxnStep(new Error("bug"), "body", 0, 10_000), "give-up");
  });

  it("backs off with jitter, growing, capped at 500 ms", () => {
    assert.equal(txnBackoffMs(1, () => 1), 7.5);
    assert.ok(txnBackoffMs(3, () => 1) > txnBackoffMs(2, () => 1));
    assert.equal(txnBackoffMs(50, () => 1), 500);
    assert.equal(txnBackoffMs(50, () => 0), 0);
  });
});

describe("translateMongoError()", () => {
  const reason = (err: unknown) => (err instanceof DomainError ? err.reason : undefined);
  for (const [code, name] of [
    [262, "ExceededTimeLimit"],
    [50, "MaxTimeMSExpired"],
    [11601, "Interrupted"],
    [13388, "StaleConfig"],
    [134, "ReadConcernMajorityNotAvailableYet"],
    [251, "NoSuchTransaction"],
    [100, "UnsatisfiableWriteConcern"],
    [13, "Unauthorized"],
  ] as const) {
    it(`maps ${code} ${name} to STORE_UNAVAILABLE`, () => {
      assert.equal(reason(translateMongoError(serverError(code, [], name))), ErrorReason.STORE_UNAVAILABLE);
    });
  }

  it("maps a commit with an unknown result to STORE_UNAVAILABLE", () => {
    assert.equal(reason(translateMongoError(serverError(9999, ["UnknownTransactionCommitResult"]))), ErrorReason.STORE_UNAVAILABLE);
  });

  it("maps a network error and the store's own timeout signal to STORE_UNAVAILABLE", () => {
    assert.equal(reason(translateMongoError(new MongoNetworkError("reset"))), ErrorReason.STORE_UNAVAILABLE);
    assert.equal(reason(translateMongoError(new DOMException("timed out", "TimeoutError"))), ErrorReason.STORE_UNAVAILABLE);
  });

  it("leaves an unknown server error as is (INTERNAL at the boundary)", () => {
    const err = serverError(2, [], "BadValue");
    assert.equal(translateMongoError(err), err);
  });
});

describe("runTransaction()", () => {
  // A real driver session of a client that never connects: a transaction that sends no command
  // starts, aborts and commits inside the driver, so the loop runs without a server.
  const client = new MongoClient("mongodb://127.0.0.1:1/?replicaSet=rs0");
  after(() => client.close());
  const manualClock = () => {
    let now = 0;
    const slept: number[] = [];
    return { slept, clock: { now: () => now, sleep: async (ms: number) => void slept.push(ms) }, advance: (ms: number) => void (now += ms) };
  };

  it("runs the body again after transient errors, then commits", async () => {
    const { clock, slept } = manualClock();
    const session = client.startSession();
    let attempts = 0;
    const result = await runTransaction(
      session,
      async () => {
        if (++attempts < 3) throw serverError(112, ["TransientTransactionError"], "WriteConflict");
        return "done";
      },
      () => ({}),
      10_000,
      clock,
    );
    assert.equal(result, "done");
    assert.equal(attempts, 3);
    assert.equal(slept.length, 2);
    await session.endSession();
  });

  it("gives up with the last error once the budget is spent", async () => {
    const { clock, advance } = manualClock();
    const session = client.startSession();
    let attempts = 0;
    const conflict = serverError(112, ["TransientTransactionError"], "WriteConflict");
    await assert.rejects(
      runTransaction(
        session,
        async () => {
          attempts++;
          advance(4_000);
          throw conflict;
        },
        () => ({}),
        10_000,
        clock,
      ),
      (err: unknown) => err === conflict,
    );
    assert.equal(attempts, 3, "attempts at 4 s and 8 s are retried, the one ending at 12 s is not");
    await session.endSession();
  });

  it("does not retry an error that is not transient", async () => {
    const session = client.startSession();
    let attempts = 0;
    const duplicate = serverError(11000, [], "DuplicateKey");
    const body = async () => {
      attempts++;
      throw duplicate;
    };
    await assert.rejects(runTransaction(session, body, () => ({}), 10_000, manualClock().clock), (err: unknown) => err === duplicate);
    assert.equal(attempts, 1);
    await session.endSession();
  });
});
