// Fan-out between broker replicas. After an event is durable, the broker that committed it hands it
// to the bus; every other broker hears it and feeds its live hub. The bus may lose messages (NATS
// core is at-most-once): the hub notices gaps in positions and reads the store, so a lost message
// costs latency, never an event.

/** An event just committed by this broker. */
export interface BusEvent {
  readonly id: string;
  readonly type: string;
  readonly position: string;
  /** The envelope's W3C traceparent, sent as the `traceparent` header when not empty. */
  readonly traceparent?: string | undefined;
  /** The stored envelope bytes. */
  readonly data: Uint8Array;
}

/** An event another broker committed, as heard on the bus. */
export interface RemoteEvent {
  readonly position: string;
  readonly data: Uint8Array;
}

export interface EventBus {
  readonly kind: "nats" | "in-process";
  /** Sends committed events to the other brokers (and any NATS listener). Never throws. */
  publish(events: readonly BusEvent[]): void;
  /** Registers the receiver of other brokers' events. */
  onRemote(handler: (event: RemoteEvent) => void): void;
  /** Registers what to do when delivery may have been interrupted (a reconnect). */
  onResync(handler: () => void): void;
  close(): Promise<void>;
}

/**
 * The bus of a single broker: local commits reach local subscribers through the hub directly, so
 * there is nothing to send. Brokers sharing one SQLite file without NATS still see each other's
 * events, through the hub's periodic look at the store's head.
 */
export class InProcessBus implements EventBus {
  readonly kind = "in-process";
  publish(): void {}
  onRemote(): void {}
  onResync(): void {}
  async close(): Promise<void> {}
}
