import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { EventBrokerService } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { Health } from "../../sdk/src/gen/grpc/health/v1/health_pb.js";
import type { BrokerConfig } from "./config.js";
import { shuttingDown } from "./errors.js";
import { addService, CallRegistry } from "./grpc/bind.js";
import { logPatchReport, patchServer } from "./grpc/grpc-internals.js";
import { addReflection } from "./grpc/reflection.js";
import { undecodableAsInvalid } from "./grpc/transport-statuses.js";
import { HealthState, ServingStatus } from "./services/health.js";
import { publishHandlers } from "./services/publish.js";
import { queryHandlers } from "./services/query.js";
import type { EventStore } from "./store/event-store.js";
import { GroupCommitter } from "./store/group-commit.js";
import { InProcessBus, type EventBus } from "./bus/event-bus.js";
import { NatsBus } from "./bus/nats-bus.js";
import { LiveHub } from "./services/live-hub.js";
import { subscribeHandler } from "./services/subscribe.js";
import { groupHandlers } from "./services/groups.js";
import { GroupManager, storeFeeds } from "./groups/group-manager.js";
import { jetstreamFeeds } from "./groups/jetstream-feed.js";
import { JetStreamLog, durableLogNames } from "./bus/jetstream-log.js";
import { createMetrics, serveMetrics } from "./metrics.js";
import { ConsumerGroupService } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { openMongoStore } from "./store/mongo/mongo-open.js";
import { openSqliteStore } from "./store/sqlite/sqlite-store.js";

const HEALTH_INTERVAL_MS = 5_000;
const RETENTION_INTERVAL_MS = 10 * 60_000;

/** A running broker. */
export interface BrokerHandle {
  /** The bound port (useful with BROKER_GRPC_PORT=0). */
  readonly port: number;
  /** host:port to dial. */
  readonly address: string;
  readonly store: EventStore;
  readonly health: HealthState;
  readonly hub: LiveHub;
  readonly groups: GroupManager;
  /** Port of /metrics, when BROKER_METRICS_PORT is set. */
  readonly metricsPort: number | undefined;
  /** Stops accepting calls, acknowledges what was accepted, ends streams, closes the store. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function openStore(config: BrokerConfig, log: Logger): Promise<EventStore> {
  if (config.mongodbUrl) {
    return openMongoStore({ url: config.mongodbUrl, database: config.mongodbDatabase, writeConcern: config.mongodbWriteConcern, retentionMs: config.retentionMs, log, operationTimeoutMs: config.mongodbTimeoutMs });
  }
  return openSqliteStore({ dataDir: config.dataDir, sync: config.sqliteSync, log });
}

function serverOptions(config: BrokerConfig, log: Logger): grpc.ServerOptions {
  return {
    interceptors: [undecodableAsInvalid(log)],
    "grpc.max_receive_message_length": config.maxMessageBytes,
    "grpc.max_send_message_length": config.maxMessageBytes,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
    "grpc.max_concurrent_streams": 10_000,
    // The broker serves no channelz service; its per-call bookkeeping would be pure cost.
    "grpc.enable_channelz": 0,
  };
}

function patchOptions(config: BrokerConfig) {
  return {
    incomplete: { perConnectionBytes: config.maxIncompleteBytesPerConnection, totalBytes: config.maxIncompleteBytes, stallMs: config.incompleteMessageTimeoutMs },
    prefaceTimeoutMs: config.prefaceTimeoutMs,
  };
}

function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
}

/** Periodic store checks: health follows the store, retention expires old events. */
function startMaintenance(store: EventStore, health: HealthState, config: BrokerConfig, log: Logger): () => void {
  const check = () =>
    store.ping().then(
      () => health.setAll(ServingStatus.SERVING),
      (err: unknown) => {
        log.warn({ err }, "store health check failed");
        health.setAll(ServingStatus.NOT_SERVING);
      },
    );
  const expire = () =>
    store.expire(Date.now() * 1000 - config.retentionMs * 1000).then(
      (n) => n > 0 && log.info({ expired: n }, "expired events past retention"),
      (err: unknown) => log.warn({ err }, "retention run failed"),
    );
  void expire();
  const timers = [setInterval(check, HEALTH_INTERVAL_MS), setInterval(expire, RETENTION_INTERVAL_MS)];
  for (const t of timers) t.unref();
  return () => timers.forEach(clearInterval);
}

/** Opens the store, serves gRPC and returns once the port is bound. */
export async function startBroker(config: BrokerConfig, log: Logger): Promise<BrokerHandle> {
  const store = await openStore(config, log);
  let bus: EventBus;
  try {
    bus = config.natsUrl ? await NatsBus.connect({ url: config.natsUrl, subjectPrefix: config.subjectPrefix, log }) : new InProcessBus();
  } catch (err) {
    await store.close();
    throw err;
  }
  const hub = new LiveHub(store, log);
  await hub.start();
  bus.onRemote((e) => hub.offerRemote(e));
  bus.onResync(() => hub.resync());
  const metrics = createMetrics();
  const committer = new GroupCommitter(store, {
    maxPendingEvents: config.maxPendingEvents,
    onCommitted: (events) => {
      metrics.published.inc(events.length);
      metrics.commits.observe(events.length);
      hub.offerLocal(events);
      bus.publish(events);
    },
    onCommitTime: (seconds) => metrics.commitSeconds.observe(seconds),
  });
  const calls = new CallRegistry();
  const health = new HealthState([EventBrokerService.typeName, ConsumerGroupService.typeName]);
  const server = new grpc.Server(serverOptions(config, log));
  const patches = patchServer(server, patchOptions(config), log);
  const handlers = {
    ...publishHandlers({ committer, limits: { maxEventBytes: config.maxEventBytes }, onDuplicate: () => metrics.duplicates.inc() }),
    ...queryHandlers({ store, subjectPrefix: config.subjectPrefix, maxMessageBytes: config.maxMessageBytes }),
    subscribe: subscribeHandler({ store, hub, maxBuffered: config.subscriberBuffer, maxMessageBytes: config.maxMessageBytes, metrics }),
  };
  const onError = (method: string, code: string) => metrics.rpcErrors.inc({ method, code });
  addService(server, EventBrokerService, handlers, { log, calls, onError });
  const jslog =
    config.groupBackend === "jetstream" && bus instanceof NatsBus
      ? await JetStreamLog.open({ nc: bus.nc, store, hub, names: durableLogNames(config.subjectPrefix), retentionMs: config.retentionMs, log })
      : undefined;
  const groups = new GroupManager(store, jslog ? jetstreamFeeds(jslog, store, hub, log) : storeFeeds(store, hub, log), log);
  await groups.start();
  addService(server, ConsumerGroupService, groupHandlers(groups, { maxMessageBytes: config.maxMessageBytes }), { log, calls, onError });
  addService(server, Health, health.handlers(), { log, calls, onError });
  addReflection(server, [EventBrokerService, ConsumerGroupService, Health]);
  let port: number;
  let patched: ReturnType<typeof patches.after>;
  try {
    port = await bind(server, `${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.grpcPort}`);
    patched = patches.after();
    logPatchReport(patched.report, log);
    metrics.watchIncomplete(patched.incompleteBytes);
  } catch (err) {
    hub.close();
    await bus.close();
    await store.close();
    throw err;
  }
  const metricsServer = config.metricsPort === undefined ? undefined : await serveMetrics(metrics, config.host, config.metricsPort, log);
  const metricsPort = (metricsServer?.address() as { port: number } | null)?.port;
  health.setAll(ServingStatus.SERVING);
  const stopMaintenance = startMaintenance(store, health, config, log);
  log.info({ host: config.host, port, metricsPort, store: store.kind, bus: bus.kind, groups: config.groupBackend, retentionMs: config.retentionMs }, "broker started");

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      log.info({ liveCalls: calls.size, pendingEvents: committer.pendingEvents }, "broker stopping");
      health.setAll(ServingStatus.NOT_SERVING);
      stopMaintenance();
      // No new calls from here on; live calls end (streams with UNAVAILABLE, publishes acknowledged).
      server.tryShutdown(() => undefined);
      calls.abortAll(shuttingDown());
      await committer.drain();
      const graceful = await Promise.race([calls.idle().then(() => true), delay(config.shutdownGraceMs).then(() => false)]);
      if (!graceful) log.warn({ liveCalls: calls.size }, "shutdown grace period over: closing remaining calls");
      // Idle client connections would hold tryShutdown open for ever; no call is cut by closing them.
      server.forceShutdown();
      patched.stop();
      await groups.close();
      await jslog?.close();
      metricsServer?.close();
      hub.close();
      await bus.close();
      await store.close();
      log.info({ graceful }, "broker stopped");
    })());
  return { port, address: `${config.host}:${port}`, store, health, hub, groups, metricsPort, close, [Symbol.asyncDispose]: close };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
