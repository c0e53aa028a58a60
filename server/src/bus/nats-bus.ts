import { connect, credsAuthenticator, headers, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";
import type { NatsAuth } from "../config.js";
import type { Logger } from "pino";
import { eventSubject } from "../../../sdk/src/catalog/subject.js";
import type { EventType } from "../../../sdk/src/catalog/catalog.js";
import type { BusEvent, EventBus, RemoteEvent } from "./event-bus.js";

/** Header names on every event message. */
export const HEADER_ID = "Event-Id";
export const HEADER_TYPE = "Event-Type";
export const HEADER_POSITION = "Event-Position";
/** W3C Trace Context of the producer, as OpenTelemetry's NATS propagation reads it. */
export const HEADER_TRACEPARENT = "traceparent";

export interface NatsBusOptions {
  url: string;
  subjectPrefix: string;
  log: Logger;
  /** Credentials and TLS; none by default. */
  auth?: NatsAuth;
}

/** nats.js options for the broker's credentials and TLS. */
export function natsAuthOptions(auth: NatsAuth = {}): Partial<ConnectionOptions> {
  const tls = auth.tlsCa !== undefined || auth.tlsCert !== undefined;
  return {
    ...(auth.credsFile === undefined ? {} : { authenticator: credsAuthenticator(readFileSync(auth.credsFile)) }),
    ...(auth.user === undefined ? {} : { user: auth.user, pass: auth.password ?? "" }),
    ...(auth.token === undefined ? {} : { token: auth.token }),
    ...(tls
      ? {
          tls: {
            ...(auth.tlsCa === undefined ? {} : { caFile: auth.tlsCa }),
            ...(auth.tlsCert === undefined ? {} : { certFile: auth.tlsCert }),
            ...(auth.tlsKey === undefined ? {} : { keyFile: auth.tlsKey }),
          },
        }
      : {}),
  };
}

/**
 * Fan-out over NATS core subjects `<prefix>.<domain>.<type>`: the binary envelope as payload, id,
 * type and position in headers, so any NATS client can listen too. Reconnects forever; while NATS
 * is away, publishes still persist and acknowledge, and the hubs catch up from the store.
 */
export class NatsBus implements EventBus {
  readonly kind = "nats";
  private remote: ((e: RemoteEvent) => void) | undefined;
  private resync: (() => void) | undefined;
  private up = true;

  private constructor(
    /** The connection, shared with the JetStream log of consumer groups. */
    readonly nc: NatsConnection,
    private readonly options: NatsBusOptions,
  ) {}

  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const nc = await connect({
      servers: options.url,
      name: "qingyu-broker",
      // A broker's own events reach its subscribers directly; it need not hear them back.
      noEcho: true,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: false,
      ...natsAuthOptions(options.auth),
    });
    const bus = new NatsBus(nc, options);
    bus.listen();
    void bus.watchStatus();
    options.log.info({ server: nc.getServer() }, "nats connected");
    return bus;
  }

  private listen(): void {
    this.nc.subscribe(`${this.options.subjectPrefix}.>`, {
      callback: (err, msg) => {
        if (err) {
          this.options.log.warn({ err }, "nats subscription error");
          this.resync?.();
          return;
        }
        const position = msg.headers?.get(HEADER_POSITION) ?? "";
        if (position !== "") this.remote?.({ position, data: msg.data });
      },
    });
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect") {
        this.up = false;
        this.options.log.warn({ server: s.server }, "nats disconnected");
      } else if (s.type === "reconnect") {
        this.up = true;
        this.options.log.info({ server: s.server }, "nats reconnected");
        // Messages sent while we were away are gone: read what we missed from the store.
        this.resync?.();
      } else if (s.type === "slowConsumer") {
        this.options.log.warn({ sub: s.sub }, "nats slow consumer: messages dropped");
        this.resync?.();
      }
    }
  }

  publish(events: readonly BusEvent[]): void {
    for (const e of events) {
      const h = headers();
      h.set(HEADER_ID, e.id);
      h.set(HEADER_TYPE, e.type);
      h.set(HEADER_POSITION, e.position);
      if (e.traceparent) h.set(HEADER_TRACEPARENT, e.traceparent);
      try {
        this.nc.publish(eventSubject(e.type as EventType, { prefix: this.options.subjectPrefix }), e.data, { headers: h });
      } catch (err) {
        // why: a closed or failed connection must not fail a publish that is already durable.
        this.options.log.warn({ err, id: e.id }, "nats publish failed");
      }
    }
  }

  /** Whether the connection is up (false from a disconnect until the reconnect). */
  get connected(): boolean {
    return this.up && !this.nc.isClosed();
  }

  onRemote(handler: (event: RemoteEvent) => void): void {
    this.remote = handler;
  }

  onResync(handler: () => void): void {
    this.resync = handler;
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}
