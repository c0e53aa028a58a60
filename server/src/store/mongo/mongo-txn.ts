// The append transaction's retry loop, bounded in time. The driver's `withTransaction` retries for
// up to 120 s and, in mongodb 7.9, ignores `timeoutMS` (CSOT is deprecated there and "has no
// effect": see `timeoutMS` in node_modules/mongodb/src/connection_string.ts), so one stuck commit
// would hold the broker's single commit line for two minutes. This loop follows the same rules as
// the drivers' transactions specification, with our own budget:
//  - an error labelled TransientTransactionError (write conflict, election, lost connection before
//    the commit) means nothing was committed: run the whole transaction again;
//  - a commit error labelled UnknownTransactionCommitResult may have committed: retry only the
//    commit (commitTransaction is idempotent), except after MaxTimeMSExpired, which the spec
//    (SPEC-1206, DRIVERS-648) labels so but says not to retry, since maxCommitTimeMS was ours.
import { MongoError, type ClientSession, type TransactionOptions } from "mongodb";

/** What to do after a failed attempt. */
export type TxnStep = "retry-transaction" | "retry-commit" | "give-up";

const MAX_TIME_MS_EXPIRED = 50;
const BACKOFF_INITIAL_MS = 5;
const BACKOFF_MAX_MS = 500;

/**
 * Decides the next step after `err`, thrown by the transaction body or by its commit, given the time
 * already spent out of the budget (and the backoff the retry would wait first).
 */
export function nextTxnStep(err: unknown, phase: "body" | "commit", elapsedMs: number, budgetMs: number, backoffMs = 0): TxnStep {
  if (!(err instanceof MongoError) || elapsedMs + backoffMs >= budgetMs) return "give-up";
  if (phase === "commit" && err.hasErrorLabel("UnknownTransactionCommitResult") && err.code !== MAX_TIME_MS_EXPIRED) return "retry-commit";
  if (err.hasErrorLabel("TransientTransactionError")) return "retry-transaction";
  return "give-up";
}

/** Jittered exponential backoff before retry `attempt` (1, 2, …), as the driver does. */
export function txnBackoffMs(attempt: number, random: () => number = Math.random): number {
  return random() * Math.min(BACKOFF_INITIAL_MS * 1.5 ** attempt, BACKOFF_MAX_MS);
}

/** Time source of {@link runTransaction}; tests of the decision use {@link nextTxnStep} directly. */
export interface TxnClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realTxnClock: TxnClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/**
 * Runs `body` in a transaction on `session`, retrying as {@link nextTxnStep} says, and throws the
 * last error once the budget is spent. `options(remainingMs)` gives each attempt's transaction
 * options, so the commit's time limits shrink with the budget.
 */
export async function runTransaction<T>(
  session: ClientSession,
  body: (remainingMs: number) => Promise<T>,
  options: (remainingMs: number) => TransactionOptions,
  budgetMs: number,
  clock: TxnClock = realTxnClock,
): Promise<T> {
  const start = clock.now();
  const remaining = () => Math.max(1, Math.floor(budgetMs - (clock.now() - start)));
  for (let attempt = 1; ; attempt++) {
    session.startTransaction(options(remaining()));
    let result: T;
    try {
      result = await body(remaining());
    } catch (err) {
      if (session.inTransaction()) await session.abortTransaction().catch(() => undefined);
      const backoff = txnBackoffMs(attempt);
      if (nextTxnStep(err, "body", clock.now() - start, budgetMs, backoff) !== "retry-transaction") throw err;
      await clock.sleep(backoff);
      continue;
    }
    if ((await commit(session, start, budgetMs, clock)) === "committed") return result;
    await clock.sleep(txnBackoffMs(attempt));
  }
}

async function commit(session: ClientSession, start: number, budgetMs: number, clock: TxnClock): Promise<"committed" | "retry-transaction"> {
  for (let attempt = 1; ; attempt++) {
    try {
      await session.commitTransaction();
      return "committed";
    } catch (err) {
      const backoff = txnBackoffMs(attempt);
      const step = nextTxnStep(err, "commit", clock.now() - start, budgetMs, backoff);
      if (step === "give-up") throw err;
      if (step === "retry-transaction") return step;
      await clock.sleep(backoff);
    }
  }
}
