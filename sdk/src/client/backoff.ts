// Waiting between attempts: one abortable sleep and one exponential backoff for the client's publish
// retries, the subscription's reconnects and the consumer's reconnects, and what is worth a reconnect.
import { ErrorReason } from "../gen/qingyu/broker/v1/errors_pb.js";
import type { BrokerError } from "../errors.js";

/**
 * @internal Whether a stream that ended with `e` is worth opening again: its code is one of
 * `codes` (the stream's transient failures), unless the broker said an event is too large to send
 * (RESOURCE_EXHAUSTED, TOO_LARGE), which a new stream would meet again.
 */
export function worthReconnecting(e: BrokerError, codes: ReadonlySet<number>): boolean {
  return codes.has(e.code) && e.reason !== ErrorReason.TOO_LARGE;
}

/**
 * @internal Resolves after `ms`, or at once when `signal` aborts. The abort listener is removed when
 * the timer fires: a long-lived signal shared by thousands of reconnects must not collect one
 * listener per wait (issue 13: 133 listeners after 20 s against an unreachable broker).
 */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** @internal How an attempt's delay grows. */
export interface BackoffOptions {
  /** The delay before the first retry, before jitter. */
  baseMs: number;
  /** The cap, before jitter. */
  maxMs: number;
  /** Each delay is the nominal one times a factor in [1 - jitter, 1). */
  jitter: number;
}

/**
 * @internal Exponential backoff: `min(max, base × 2^attempt)` scaled by a random factor in
 * `[1 - jitter, 1)`. `reset()` after a success, so one bad minute does not slow every later
 * reconnect to the cap.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** Attempts since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The delay before the next attempt; counts the attempt. */
  next(): number {
    const { baseMs, maxMs, jitter } = this.options;
    // 2^attempt overflows to Infinity long after the cap is reached; min() keeps it finite.
    const nominal = Math.min(maxMs, baseMs * 2 ** this.attempt);
    this.attempt++;
    return nominal * (1 - jitter + jitter * this.random());
  }

  reset(): void {
    this.attempt = 0;
  }
}
