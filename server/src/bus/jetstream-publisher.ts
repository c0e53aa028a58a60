// JetStream publish-acks for a steady flow of messages (the mirrored event log).
import { createInbox, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";

/** What JetStream answered for one message. */
export interface StreamAck {
  stream: string;
  seq: number;
  /** The message id was already in the stream's duplicate window: stored once. */
  duplicate: boolean;
}

interface Waiting {
  resolve: (ack: StreamAck) => void;
  reject: (err: Error) => void;
  sentAt: number;
}

interface PubAckJson {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code?: number; err_code?: number; description?: string };
}

const decoder = new TextDecoder();

/**
 * Publishes to JetStream the way nats.js's `js.publish()` does on the wire (a core publish whose
 * reply subject receives the stream's PubAck), but for many messages at once: one subscription on
 * one inbox receives every acknowledgement, and one timer expires those that never come. Per
 * message, `js.publish()` makes a request object, an error object (for its stack trace) and a
 * timer, which made mirroring the log cost more CPU than storing it.
 */
export class JetStreamPublisher {
  private readonly prefix = `${createInbox()}.`;
  private readonly subscription: Subscription;
  private readonly waiting = new Map<number, Waiting>();
  private nextToken = 0;
  private readonly sweeper: NodeJS.Timeout;

  /** @param timeoutMs how long an acknowledgement may take before the publish fails */
  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5_000,
  ) {
    this.subscription = nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => {
        if (err) this.failAll(err);
        else this.settle(Number(msg.subject.slice(this.prefix.length)), msg.data, msg.headers);
      },
    });
    this.sweeper = setInterval(() => this.expire(), Math.min(1_000, timeoutMs));
    this.sweeper.unref();
  }

  /** Messages sent and not yet acknowledged. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Resolves with the stream's acknowledgement; rejects when JetStream refuses or does not answer. */
  publish(subject: string, data: Uint8Array, headers: MsgHdrs): Promise<StreamAck> {
    const token = this.nextToken++;
    return new Promise<StreamAck>((resolve, reject) => {
      this.waiting.set(token, { resolve, reject, sentAt: Date.now() });
      try {
        this.nc.publish(subject, data, { reply: `${this.prefix}${token}`, headers });
      } catch (err) {
        this.waiting.delete(token);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  private settle(token: number, data: Uint8Array, headers: MsgHdrs | undefined): void {
    const w = this.waiting.get(token);
    if (!w) return; // expired meanwhile
    this.waiting.delete(token);
    // A status reply (503: no stream listens on the subject) has headers and no body.
    if (headers?.hasError) return w.reject(new Error(`JetStream did not take the message: ${headers.status}`));
    let ack: PubAckJson;
    try {
      ack = JSON.parse(decoder.decode(data)) as PubAckJson;
    } catch {
      return w.reject(new Error("JetStream answered with an acknowledgement that is not JSON"));
    }
    if (ack.error) return w.reject(new Error(`JetStream refused the message: ${ack.error.description ?? "unknown error"} (${ack.error.err_code ?? ack.error.code ?? "?"})`));
    if (!ack.stream || typeof ack.seq !== "number") return w.reject(new Error("JetStream answered with an invalid acknowledgement"));
    w.resolve({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true });
  }

  private expire(): void {
    const limit = Date.now() - this.timeoutMs;
    // A Map iterates in insertion order, i.e. oldest first.
    for (const [token, w] of this.waiting) {
      if (w.sentAt > limit) break;
      this.waiting.delete(token);
      w.reject(new Error(`JetStream did not acknowledge within ${this.timeoutMs} ms`));
    }
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  /** Stops listening; what is still waiting fails. */
  close(): void {
    clearInterval(this.sweeper);
    this.subscription.unsubscribe();
    this.failAll(new Error("JetStream publisher closed"));
  }
}
