// The JetStream admin calls of consumer groups (consumer info, add, delete, update), and whether
// JetStream last answered them. An answer is an answer, even "not found"; a timeout, a permissions
// violation or a closed connection is no answer: it is logged as itself, groups show unhealthy
// until JetStream answers again, and the caller gets UNAVAILABLE. Nothing is ever recreated
// because a call failed.
import { JetStreamApiError } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { storeUnavailable } from "../errors.js";

/** What an admin call was about, for the log and the caller's error. */
export interface AdminCall {
  /** e.g. "consumer info" */
  op: string;
  group: string;
}

export class JetStreamAdmin {
  /** The last call JetStream did not answer, and a read-only call that tells when it answers again. */
  private failure: { call: AdminCall; probe: () => Promise<unknown> } | undefined;
  private readonly listeners: ((healthy: boolean) => void)[] = [];

  constructor(private readonly log: Logger) {}

  /** Whether JetStream answered the last admin call (or the probe after a failed one). */
  get healthy(): boolean {
    return this.failure === undefined;
  }

  /** Called with the new state whenever it changes. */
  onChange(listener: (healthy: boolean) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Runs `run`. JetStream's answers pass through as they are (callers branch on the not-found
   * codes); no answer is logged with its cause, marks groups unhealthy until `probe` is answered,
   * and is thrown as STORE_UNAVAILABLE.
   */
  async run<T>(call: AdminCall, run: () => Promise<T>, probe: () => Promise<unknown>): Promise<T> {
    let result: T;
    try {
      result = await run();
    } catch (err) {
      if (err instanceof JetStreamApiError) {
        this.answered();
        throw err;
      }
      this.log.error({ err, group: call.group, op: call.op }, "JetStream did not answer an admin call of a consumer group");
      this.set({ call, probe });
      throw storeUnavailable(err, `consumer group '${call.group}': JetStream did not answer or refused the ${call.op} (see the broker's log)`);
    }
    this.answered();
    return result;
  }

  /** While unhealthy, asks JetStream again (read-only); healthy once it answers. For the health check. */
  async check(): Promise<void> {
    const failure = this.failure;
    if (!failure) return;
    try {
      await failure.probe();
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) return;
    }
    if (this.failure === failure) this.answered();
  }

  private answered(): void {
    if (!this.failure) return;
    this.log.info({ group: this.failure.call.group, op: this.failure.call.op }, "JetStream answers admin calls again");
    this.set(undefined);
  }

  private set(failure: JetStreamAdmin["failure"]): void {
    const was = this.healthy;
    this.failure = failure;
    if (was !== this.healthy) for (const l of this.listeners) l(this.healthy);
  }
}
