import { clone, create, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import {
  EventBrokerService,
  type EventTypeInfo,
  type GetBrokerStatsResponse,
  type QueryEventsRequestSchema,
  type ReplayRequestSchema,
} from "../gen/qingyu/broker/v1/broker_pb.js";
import { BadRequestSchema, ErrorReason } from "../gen/qingyu/broker/v1/errors_pb.js";
import { EventSchema, type Event } from "../gen/qingyu/events/v1/event_pb.js";
import type { EventDomain, EventType } from "../catalog/catalog.js";
import { newEventId } from "../event/new-event.js";
import { BrokerError } from "../errors.js";
import { validateEvent } from "../validate/validate-event.js";
import { StreamPublisher, type PublisherOptions } from "./publisher.js";
import { toPublishResult, toTimestamp, type PublishResult, type TimeInput } from "./results.js";
import { Rpc, type CallOptions } from "./rpc.js";
import { Backoff, sleep } from "./backoff.js";
import { Upcasters, type Upcaster } from "../event/evolution.js";
import { toFilter, type EventQuery, type SubscriptionFilter } from "./filters.js";
import type { SdkLogger } from "./logger.js";
import { subscription, type SubscribeOptions } from "./subscription.js";
import { ConsumerGroupService } from "../gen/qingyu/broker/v1/groups_pb.js";
import { GroupsClient } from "./groups.js";
import { bearerInterceptor, channelCredentials, checkTokenSource, type TlsOptions, type TokenSource } from "./channel-credentials.js";
import { Consumer, type ConsumeOptions, type EventHandler, type HandlerMap } from "./consumer.js";
import { consumerSpan, describeProducer, producerSpan, tracedEvents } from "./tracing.js";
import { formatTraceparent, inSpan } from "../trace/trace-context.js";

/** Options of {@link createBrokerClient}. */
export interface BrokerClientOptions {
  /** `host:port` of a broker, e.g. `"127.0.0.1:50051"`. */
  address: string;
  /** Fills `source` of events published without one, e.g. `"social-svc"`. */
  source?: string;
  /**
   * Deadline of unary calls without one of their own, in milliseconds.
   * @defaultValue 10000
   */
  defaultDeadlineMs?: number;
  /**
   * Validate events against the catalog before sending them (the broker validates again).
   * @defaultValue true
   */
  validate?: boolean;
  /**
   * Retries of Publish and PublishBatch after UNAVAILABLE or OVERLOADED, with exponential backoff.
   * Safe because the broker deduplicates by id.
   * @defaultValue 3
   */
  retries?: number;
  /**
   * A bearer token sent as `authorization: Bearer <token>` on every call, or a function returning a
   * fresh one per call (e.g. a short-lived JWT). A failing function fails the call with UNAUTHENTICATED.
   */
  credentials?: TokenSource;
  /**
   * TLS: `true` verifies the broker against the system's roots; `{ ca }` against a private CA;
   * add `cert` and `key` for mutual TLS. PEM contents. @defaultValue plaintext
   */
  tls?: TlsOptions | true;
  /** grpc-js channel credentials, instead of `tls` (for anything `tls` does not cover). */
  channelCredentials?: grpc.ChannelCredentials;
  /**
   * grpc-js channel options, over the SDK's: keepalive 30 s, 64 MiB receive limit, and a 1 MiB
   * flow-control window per stream (`grpc-node.flow_control_window`), which lets replays and
   * subscriptions stream without waiting on window updates; lower it to bound a slow reader's buffer.
   */
  channelOptions?: grpc.ChannelOptions;
  logger?: SdkLogger;
  /**
   * Steps that bring events stored at an older `data_version` to the catalog's current one, applied
   * to every event this client reads (subscribe, replay, query, getEvent, consume).
   * @throws UpcasterError from createBrokerClient when a step is misplaced, repeated or missing
   */
  upcasters?: readonly Upcaster[];
}

/** Options of {@link BrokerClient.queryEvents}. */
export interface QueryOptions extends CallOptions {
  /** 1-1000. @defaultValue 100 */
  pageSize?: number;
  /** Continue after a page: its `nextPageToken`. */
  pageToken?: string;
  /** Newest events first. */
  newestFirst?: boolean;
}

/** One page of a query. */
export interface QueryPage {
  readonly events: Event[];
  /** Empty on the last page. */
  readonly nextPageToken: string;
}

/** Options of {@link BrokerClient.replay}. */
export interface ReplayOptions extends CallOptions {
  /** Resume an interrupted replay after this position. */
  afterPosition?: string;
}

const DEFAULT_DEADLINE_MS = 10_000;
const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 5_000;

function bounds(q: EventQuery) {
  const fromTime = toTimestamp(q.from);
  const toTime = toTimestamp(q.to);
  return { ...(fromTime ? { fromTime } : {}), ...(toTime ? { toTime } : {}) };
}

function retryable(err: BrokerError): boolean {
  return err.code === grpc.status.UNAVAILABLE || err.reason === ErrorReason.OVERLOADED;
}

/** A connection to a broker. Create one per process and share it; `close()` when done. */
export class BrokerClient {
  private readonly rpc: Rpc;
  private readonly channel: grpc.Client;
  private readonly upcasters: Upcasters;
  /** Consumer group administration: create, inspect, dead letters. */
  readonly groups: GroupsClient;

  /** @internal Use {@link createBrokerClient}. */
  constructor(private readonly options: BrokerClientOptions) {
    this.upcasters = new Upcasters(options.upcasters);
    const token = checkTokenSource(options.credentials);
    this.channel = new grpc.Client(options.address, options.channelCredentials ?? channelCredentials(options.tls), {
      ...(token === undefined ? {} : { interceptors: [bearerInterceptor(token)] }),
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.max_receive_message_length": 64 << 20,
      "grpc-node.flow_control_window": 1 << 20,
      ...options.channelOptions,
    });
    this.rpc = new Rpc(this.channel, [...EventBrokerService.methods, ...ConsumerGroupService.methods], options.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS);
    this.groups = new GroupsClient(this.rpc);
  }

  /**
   * Fills what the client may (id, source, and the producer span's traceparent unless the caller
   * set one) and validates locally, without mutating the argument.
   * @throws BrokerError INVALID_ARGUMENT (reason INVALID_EVENT) listing every violation
   */
  private prepare = (event: Event, traceparent = ""): Event => {
    let e = event;
    if (e.id === "" || (e.source === "" && this.options.source) || (e.traceparent === "" && traceparent !== "")) {
      e = clone(EventSchema, event);
      if (e.id === "") e.id = newEventId();
      if (e.source === "" && this.options.source) e.source = this.options.source;
      if (e.traceparent === "") e.traceparent = traceparent;
    }
    if (this.options.validate !== false) {
      const violations = validateEvent(e);
      if (violations.length > 0) {
        const fieldViolations = violations.map((v) => ({ field: `event.${v.path}`, rule: v.rule, description: v.message }));
        throw new BrokerError(grpc.status.INVALID_ARGUMENT, `invalid event: ${violations.map((v) => v.message).join("; ")}`, {
          reason: ErrorReason.INVALID_EVENT,
          details: [anyPack(BadRequestSchema, create(BadRequestSchema, { fieldViolations }))],
        });
      }
    }
    return e;
  };

  private async withRetries<T>(opts: CallOptions, call: () => Promise<T>): Promise<T> {
    const retries = this.options.retries ?? 3;
    const backoff = new Backoff({ baseMs: RETRY_BASE_MS, maxMs: RETRY_MAX_MS, jitter: 0.5 });
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        const e = BrokerError.from(err);
        if (attempt >= retries || !retryable(e) || opts.signal?.aborted) throw e;
        const delayMs = backoff.next();
        this.options.logger?.warn({ code: e.code, attempt: attempt + 1, delayMs }, "retrying publish");
        await sleep(delayMs, opts.signal);
      }
    }
  }

  /**
   * Publishes one event and resolves once it is durable. Retries UNAVAILABLE with the same id.
   * Runs in an OpenTelemetry producer span whose context becomes the event's `traceparent` (unless
   * set); a no-op without an OpenTelemetry SDK in the process.
   * @throws BrokerError INVALID_ARGUMENT for an invalid event, ALREADY_EXISTS when the id was used
   *   for another event, UNAVAILABLE when the broker or its store stays down
   */
  async publish(event: Event, opts: CallOptions = {}): Promise<PublishResult> {
    const span = producerSpan([event]);
    return inSpan(span, async () => {
      const e = this.prepare(event, formatTraceparent(span.spanContext()));
      describeProducer(span, [e]);
      const res = await this.withRetries(opts, () => this.rpc.unary(EventBrokerService.method.publish, { event: e }, opts));
      return toPublishResult(res);
    });
  }

  /**
   * Publishes up to 1,000 events atomically: all are stored, or none is.
   * @throws BrokerError as {@link publish}; `metadata.index` names the failing event
   */
  async publishBatch(events: readonly Event[], opts: CallOptions = {}): Promise<PublishResult[]> {
    const span = producerSpan(events);
    return inSpan(span, async () => {
      const traceparent = formatTraceparent(span.spanContext());
      const prepared = events.map((e, i) => {
        try {
          return this.prepare(e, traceparent);
        } catch (err) {
          throw Object.assign(BrokerError.from(err), { metadata: { index: String(i) } });
        }
      });
      describeProducer(span, prepared);
      const res = await this.withRetries(opts, () => this.rpc.unary(EventBrokerService.method.publishBatch, { events: prepared }, opts));
      return res.results.map(toPublishResult);
    });
  }

  /** A streaming publisher for high throughput (many events in flight, acknowledged in order). */
  publisher(options: PublisherOptions = {}): StreamPublisher {
    return new StreamPublisher(this.rpc, this.prepare, options);
  }

  /**
   * Reads one event by id.
   * @throws BrokerError NOT_FOUND when no event has this id
   */
  async getEvent(id: string, opts: CallOptions = {}): Promise<Event> {
    const res = await this.rpc.unary(EventBrokerService.method.getEvent, { id }, opts);
    if (!res.event) throw new BrokerError(grpc.status.INTERNAL, "broker answered without an event");
    return this.upcasters.apply(res.event);
  }

  /** One page of events matching a query (oldest first unless `newestFirst`). */
  async queryPage(query: EventQuery = {}, opts: QueryOptions = {}): Promise<QueryPage> {
    const req: MessageInitShape<typeof QueryEventsRequestSchema> = {
      filter: toFilter(query),
      ...bounds(query),
      pageSize: opts.pageSize ?? 0,
      pageToken: opts.pageToken ?? "",
      newestFirst: opts.newestFirst ?? false,
    };
    const res = await this.rpc.unary(EventBrokerService.method.queryEvents, req, opts);
    return { events: res.events.map((e) => this.upcasters.apply(e)), nextPageToken: res.nextPageToken };
  }

  /**
   * Every page of a query, one after the other. With `where`, the broker may answer pages that
   * examined events but found none; those are skipped (the last page is always yielded).
   */
  async *queryEvents(query: EventQuery = {}, opts: QueryOptions = {}): AsyncIterable<QueryPage> {
    let pageToken = opts.pageToken ?? "";
    do {
      const page = await this.queryPage(query, { ...opts, pageToken });
      pageToken = page.nextPageToken;
      if (page.events.length > 0 || pageToken === "") yield page;
    } while (pageToken !== "");
  }

  /**
   * How many events match a query. With `where`, the broker counts a bounded stretch per call;
   * this adds the calls up until the count is complete.
   */
  async countEvents(query: EventQuery = {}, opts: CallOptions = {}): Promise<number> {
    let total = 0;
    let pageToken = "";
    do {
      const res = await this.rpc.unary(EventBrokerService.method.countEvents, { filter: toFilter(query), ...bounds(query), pageToken }, opts);
      total += Number(res.count);
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    return total;
  }

  /**
   * Every event matching a query, in store order, up to the newest event at the start of the
   * replay. Breaking out of the loop cancels the call.
   */
  async *replay(query: EventQuery = {}, opts: ReplayOptions = {}): AsyncIterable<Event> {
    const req = { filter: toFilter(query), ...bounds(query), afterPosition: opts.afterPosition ?? "" };
    yield* tracedEvents(this.replayEvents(req, opts), "replay");
  }

  private async *replayEvents(req: MessageInitShape<typeof ReplayRequestSchema>, opts: CallOptions): AsyncIterable<Event> {
    for await (const res of this.rpc.serverStream(EventBrokerService.method.replay, req, opts)) {
      if (res.event) yield this.upcasters.apply(res.event);
    }
  }

  /**
   * Subscribes to matching events: history from `from` (default: now), then live events as they
   * are committed, in store order, each once, until `signal` aborts or the loop breaks. Reconnects
   * by itself and resumes after the last position received.
   * @throws BrokerError INVALID_ARGUMENT for a bad filter or start
   */
  subscribe(filter: SubscriptionFilter = {}, options: SubscribeOptions = {}): AsyncIterable<Event> {
    return tracedEvents(subscription(this.rpc, toFilter(filter), options, this.upcasters, this.options.logger), "subscribe");
  }

  /**
   * Calls `onEvent` for each matching event (awaiting it) until `options.signal` aborts; for scripts.
   * @throws BrokerError as {@link subscribe}, or what `onEvent` throws
   */
  async tail(filter: SubscriptionFilter, onEvent: (event: Event) => unknown, options: SubscribeOptions = {}): Promise<void> {
    for await (const e of subscription(this.rpc, toFilter(filter), options, this.upcasters, this.options.logger)) await inSpan(consumerSpan(e, "subscribe"), () => onEvent(e));
  }

  /**
   * Joins a consumer group and runs `handler` for each event delivered to this member: resolving
   * acknowledges, throwing retries with the group's backoff (`RetryLaterError` picks the delay,
   * `RejectError` parks the event at once). Delivery is at-least-once: make handlers idempotent,
   * e.g. by recording `event.id` with the side effect. Pass a map of handlers by event type to get
   * typed events; types without a handler are acknowledged. Each handler call runs in an
   * OpenTelemetry consumer span, a child of the event's `traceparent`.
   */
  consume(group: string, handler: EventHandler | HandlerMap, options: ConsumeOptions = {}): Consumer {
    const logger = options.logger ?? this.options.logger;
    return new Consumer(this.rpc, group, handler, logger ? { ...options, logger } : options, this.upcasters);
  }

  /** The event catalog the broker serves. */
  async listEventTypes(opts: CallOptions = {}): Promise<EventTypeInfo[]> {
    return (await this.rpc.unary(EventBrokerService.method.listEventTypes, {}, opts)).eventTypes;
  }

  /**
   * A summary of the broker: its store (kind, bytes on disk), open subscriptions, bus and start time.
   * `storeSizeBytes` is undefined when the broker cannot measure its store (never 0 for unknown).
   * @throws BrokerError PERMISSION_DENIED when the principal may read no event type
   */
  async brokerStats(opts: CallOptions = {}): Promise<GetBrokerStatsResponse> {
    return this.rpc.unary(EventBrokerService.method.getBrokerStats, {}, opts);
  }

  /** Closes the channel; calls in progress fail with CANCELLED or UNAVAILABLE. */
  close(): void {
    this.channel.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/**
 * Connects to a broker. The connection is lazy: nothing is dialled until the first call.
 * @param options.address `host:port`
 */
export function createBrokerClient(options: BrokerClientOptions): BrokerClient {
  return new BrokerClient(options);
}
