// Prometheus metrics (prom-client): process and Node.js metrics (memory, GC pauses, event-loop
// delay) plus the broker's own, served on BROKER_METRICS_PORT at /metrics.
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { SecureContextOptions } from "node:tls";
import { once } from "node:events";
import client from "prom-client";
import type { Logger } from "pino";
import { whereEvalErrors } from "./cel/cel-where.js";
import { isEventType } from "../../sdk/src/catalog/catalog.js";
import { ErrorReason } from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError } from "./errors.js";
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { GroupStats } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import type { GroupManager } from "./groups/group-manager.js";
import type { EventStore } from "./store/event-store.js";
import { ServingStatus, type HealthState } from "./services/health.js";

export interface BrokerMetrics {
  readonly registry: client.Registry;
  /** By event type: label values come from the catalog, a closed set. */
  readonly published: client.Counter<"type">;
  /** Refused publish calls by event type ("unknown" outside the catalog) and error reason. */
  readonly rejections: client.Counter<"type" | "reason">;
  readonly duplicates: client.Counter;
  readonly rpcErrors: client.Counter<"method" | "code">;
  readonly commits: client.Histogram;
  readonly commitSeconds: client.Histogram;
  readonly subscribers: client.Gauge;
  readonly deliveries: client.Counter;
  readonly slowConsumers: client.Counter;
  /** Reports `held()` as broker_incomplete_message_bytes at each scrape. */
  watchIncomplete(held: () => number): void;
  readonly listenerErrors: client.Counter<"listener">;
  readonly authDenials: client.Counter<"principal" | "method">;
}

export function createMetrics(): BrokerMetrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, gcDurationBuckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5] });
  const m = {
    registry,
    published: new client.Counter({ name: "broker_events_published_total", help: "Events made durable, by event type", labelNames: ["type"] as const, registers: [registry] }),
    rejections: new client.Counter({ name: "broker_publish_rejections_total", help: "Refused publish calls, by event type and error reason", labelNames: ["type", "reason"] as const, registers: [registry] }),
    duplicates: new client.Counter({ name: "broker_events_duplicate_total", help: "Publishes of an id already stored with the same content", registers: [registry] }),
    rpcErrors: new client.Counter({ name: "broker_rpc_errors_total", help: "Failed calls by method and gRPC code", labelNames: ["method", "code"] as const, registers: [registry] }),
    commits: new client.Histogram({ name: "broker_store_commit_events", help: "Events per store commit (group commit)", buckets: [1, 4, 16, 64, 256, 1024, 4096], registers: [registry] }),
    commitSeconds: new client.Histogram({ name: "broker_store_commit_seconds", help: "Time of a store commit, from hand-over to durable outcome", buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5], registers: [registry] }),
    subscribers: new client.Gauge({ name: "broker_subscribers", help: "Open Subscribe streams", registers: [registry] }),
    deliveries: new client.Counter({ name: "broker_subscription_deliveries_total", help: "Events written to Subscribe streams", registers: [registry] }),
    slowConsumers: new client.Counter({ name: "broker_slow_consumers_total", help: "Subscribers ended for being too slow", registers: [registry] }),
    listenerErrors: new client.Counter({ name: "broker_listener_errors_total", help: "Failures of a listener of committed or live events (each fails alone)", labelNames: ["listener"] as const, registers: [registry] }),
    authDenials: new client.Counter({ name: "broker_auth_denials_total", help: "Calls refused as unauthenticated or not permitted, by principal and method", labelNames: ["principal", "method"] as const, registers: [registry] }),
  };
  new client.Counter({
    name: "broker_filter_where_errors_total",
    help: "Events a filter's where expression failed on (each a non-match), in every thread of this process",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(whereEvalErrors());
    },
  });
  let incomplete = () => 0;
  new client.Gauge({
    name: "broker_incomplete_message_bytes",
    help: "Bytes of partly received request messages held now",
    registers: [registry],
    collect() {
      this.set(incomplete());
    },
  });
  return { ...m, watchIncomplete: (held: () => number) => void (incomplete = held) };
}

/** TLS of the metrics port: the broker's certificate, and client certificates when mutual TLS is on. */
export interface MetricsTls {
  context: SecureContextOptions;
  requireClientCertificate: boolean;
}

/**
 * Serves GET /metrics (over HTTPS with `tls`; a query string is ignored; any other path is 404). Nothing a
 * caller of this port sends changes the broker: tests that need a full GC send the process SIGUSR2 (main.ts).
 */
export async function serveMetrics(metrics: BrokerMetrics, host: string, port: number, log: Logger, tls?: MetricsTls): Promise<Server> {
  const server = (tls ? createHttpsServer({ ...tls.context, requestCert: tls.requireClientCertificate, rejectUnauthorized: tls.requireClientCertificate }) : createServer()).on("request", (req, res) => {
    const path = req.url?.split("?", 1)[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(path === "/metrics" ? 405 : 404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
      (err: unknown) => {
        log.warn({ err }, "metrics collection failed");
        res.writeHead(500).end();
      },
    );
  });
  server.listen(port, host);
  await once(server, "listening");
  return server;
}

/** Counts committed events by type, with one label look-up per type of a commit rather than per event. */
export function countPublished(metrics: BrokerMetrics, events: readonly { type: string }[]): void {
  const byType = new Map<string, number>();
  for (const e of events) byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
  for (const [type, n] of byType) metrics.published.inc({ type: labelType(type) }, n);
}

/** Counts a refused publish call. */
export function countRejected(metrics: BrokerMetrics, type: string, err: unknown): void {
  const reason = err instanceof DomainError ? (ErrorReason[err.reason] ?? "UNSPECIFIED") : "INTERNAL";
  metrics.rejections.inc({ type: labelType(type), reason: reason.toLowerCase() });
}

// why: a refused event's type may be anything a client sent; only catalog types become labels.
function labelType(type: string): string {
  return isEventType(type) ? type : "unknown";
}

/** What the state gauges read at scrape time. */
export interface GaugeSources {
  groups: Pick<GroupManager, "list" | "stats" | "redeliveries">;
  store: Pick<EventStore, "sizeBytes">;
  health: Pick<HealthState, "get">;
  /** The NATS connection, when the broker has one. */
  nats?: { readonly connected: boolean } | undefined;
  /** Events of the log not yet acknowledged by the JetStream mirror, when there is one. */
  mirrorLag?: (() => number) | undefined;
}

interface GroupSample {
  name: string;
  stats: GroupStats;
  redeliveries: number;
}

/** Samples older than this are read again; the gauges of one scrape share one sample. */
const SAMPLE_TTL_MS = 500;

/**
 * Gauges read when Prometheus scrapes: per consumer group (the stats GetGroup answers), the store's
 * size, serving status, NATS connection state and the JetStream mirror's lag.
 */
export function registerStateGauges(metrics: BrokerMetrics, sources: GaugeSources, log: Logger): void {
  const registers = [metrics.registry];
  let sample: { at: number; groups: Promise<GroupSample[]> } | undefined;
  const groups = () => {
    if (!sample || Date.now() - sample.at > SAMPLE_TTL_MS) sample = { at: Date.now(), groups: sampleGroups(sources.groups, log) };
    return sample.groups;
  };
  const perGroup = (name: string, help: string, value: (g: GroupSample) => number) =>
    new client.Gauge({
      name,
      help,
      labelNames: ["group"] as const,
      registers,
      async collect() {
        this.reset();
        for (const g of await groups()) this.set({ group: g.name }, value(g));
      },
    });
  perGroup("broker_group_backlog", "Matching events of a consumer group not yet acknowledged or parked (in flight and retrying included)", (g) => Number(g.stats.backlog));
  perGroup("broker_group_oldest_unacked_age_seconds", "Age of a consumer group's oldest unacknowledged event, by recorded time (0 when none)", (g) => (g.stats.oldestUnackedAge ? durationMs(g.stats.oldestUnackedAge) / 1000 : 0));
  perGroup("broker_group_in_flight", "Events delivered to a consumer group's members and not yet answered", (g) => Number(g.stats.inFlight));
  perGroup("broker_group_retrying", "Events of a consumer group waiting for their retry delay", (g) => Number(g.stats.retrying));
  perGroup("broker_group_dead_letters", "Events parked as dead letters of a consumer group", (g) => Number(g.stats.deadLetters));
  perGroup("broker_group_members", "Members connected to a consumer group on this broker", (g) => g.stats.members.length);
  new client.Counter({
    name: "broker_group_redeliveries_total",
    help: "Deliveries of an event a consumer group had delivered before (after a nack, a retry or a missed deadline), by this broker",
    labelNames: ["group"] as const,
    registers,
    async collect() {
      this.reset();
      for (const g of await groups()) this.inc({ group: g.name }, g.redeliveries);
    },
  });
  const single = (name: string, help: string, read: () => number | Promise<number>) =>
    new client.Gauge({
      name,
      help,
      registers,
      async collect() {
        this.set(await read());
      },
    });
  single("broker_store_size_bytes", "Bytes the event store takes on disk", () => sources.store.sizeBytes().catch(() => Number.NaN));
  single("broker_serving", "1 while the broker serves (health SERVING), else 0", () => (sources.health.get("") === ServingStatus.SERVING ? 1 : 0));
  const { nats, mirrorLag } = sources;
  if (nats) single("broker_nats_connected", "1 while the NATS connection is up, else 0", () => (nats.connected ? 1 : 0));
  if (mirrorLag) single("broker_jetstream_mirror_lag_events", "Events of the log (as far as this broker has seen it) not yet acknowledged by the JetStream mirror", mirrorLag);
}

async function sampleGroups(manager: GaugeSources["groups"], log: Logger): Promise<GroupSample[]> {
  const out: GroupSample[] = [];
  for (const { name } of manager.list()) {
    try {
      out.push({ name, stats: await manager.stats(name), redeliveries: manager.redeliveries(name) });
    } catch (err) {
      // why: a group deleted meanwhile, or a store that does not answer, costs its series, not the scrape.
      log.debug({ err, group: name }, "group stats unavailable for metrics");
    }
  }
  return out;
}
