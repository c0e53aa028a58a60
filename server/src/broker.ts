import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { EventBrokerService } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { Health } from "../../sdk/src/gen/grpc/health/v1/health_pb.js";
import type { BrokerConfig } from "./config.js";
import { shuttingDown, storeUnavailable } from "./errors.js";
import { addService } from "./grpc/bind.js";
import { CallRegistry, type ServiceHandlers } from "./services/handler-context.js";
import { logPatchReport, patchServer } from "./grpc/grpc-internals.js";
import { PROTOBUF_ES_TESTED, PROTOBUF_ES_VERSION, speedUpDecoding } from "./protobuf-internals.js";
import { addReflection } from "./grpc/reflection.js";
import { HealthState, ServingStatus } from "./services/health.js";
import { publishHandlers } from "./services/publish.js";
import { queryHandlers } from "./services/query.js";
import type { EventStore } from "./store/event-store.js";
import { GroupCommitter, type CommitRecord } from "./store/group-commit.js";
import { CommitTrace } from "./store/commit-trace.js";
import { InProcessBus, type EventBus } from "./bus/event-bus.js";
import { NatsBus } from "./bus/nats-bus.js";
import { LiveHub } from "./log/live-hub.js";
import { subscribeHandler } from "./services/subscribe.js";
import { statsHandlers } from "./services/stats.js";
import { consoleFallback } from "./console/serve-console.js";
import { groupHandlers } from "./services/groups.js";
import { GroupManager, storeFeeds } from "./groups/group-manager.js";
import { jetstreamFeeds } from "./groups/jetstream-feed.js";
import { JetStreamAdmin } from "./groups/jetstream-admin.js";
import { JetStreamLog, durableLogNames } from "./log/jetstream-log.js";
import { countPublished, countRejected, createMetrics, registerStateGauges, serveMetrics, type BrokerMetrics } from "./metrics.js";
import { CommitFanout } from "./commit-fanout.js";
import { ConsumerGroupService } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { openMongoStore } from "./store/mongo/mongo-open.js";
import { openSqliteStore } from "./store/sqlite/sqlite-store.js";
import { deferredHandlers } from "./services/deferred.js";
import { bindPort, checkDataDir, namingSetting, OpenedResources } from "./startup.js";
import { Gate } from "./auth/gate.js";
import { readTlsFiles } from "./auth/tls-files.js";
import { ReloadableServerCredentials } from "./grpc/tls-credentials.js";
import { clientStreamPaths } from "./http/client-streams.js";
import { addConnectService } from "./http/connect-routes.js";
import { serveHttp, type HttpPort, type NodeHandlerFn } from "./http/http-port.js";
import type { Admitter } from "./services/handler-context.js";
import type { DescService } from "@bufbuild/protobuf";
import { resolve } from "node:path";

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
  /** Port of the HTTP door (Connect, gRPC-web), when BROKER_HTTP_PORT is set. */
  readonly httpPort: number | undefined;
  /** Re-reads the access policy and the TLS certificates (SIGHUP); a bad policy keeps the old one. */
  reload(): void;
  /** Stops accepting calls, acknowledges what was accepted, ends streams, closes the store. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** @throws ConfigError naming BROKER_MONGODB_URL or BROKER_DATA_DIR when the store cannot be opened */
async function openStore(config: BrokerConfig, log: Logger): Promise<EventStore> {
  const url = config.mongodbUrl;
  if (url) {
    const options = { url, database: config.mongodbDatabase, writeConcern: config.mongodbWriteConcern, retentionMs: config.retentionMs, log, operationTimeoutMs: config.mongodbTimeoutMs };
    return namingSetting("BROKER_MONGODB_URL", "cannot open the MongoDB store", () => openMongoStore(options));
  }
  checkDataDir(config.dataDir);
  return namingSetting("BROKER_DATA_DIR", `cannot open the embedded store in '${config.dataDir}'`, () => openSqliteStore({ dataDir: config.dataDir, sync: config.sqliteSync, log }));
}

function serverOptions(config: BrokerConfig, log: Logger): grpc.ServerOptions {
  return {
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

/**
 * Periodic store checks: health follows the store, retention expires old events. `alsoCheck` runs
 * with each check (JetStream asked again after an admin call it did not answer).
 */
function startMaintenance(store: EventStore, health: HealthState, config: BrokerConfig, log: Logger, alsoCheck?: () => Promise<void>): () => void {
  const check = () => {
    void alsoCheck?.();
    return store.ping().then(
      () => health.setAll(ServingStatus.SERVING),
      (err: unknown) => {
        log.warn({ err }, "store health check failed");
        health.setAll(ServingStatus.NOT_SERVING);
      },
    );
  };
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

/** A promise with its resolvers (Promise.withResolvers needs Node 22). */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

interface Served {
  metrics: BrokerMetrics;
  calls: CallRegistry;
  health: HealthState;
  brokerService: Promise<ServiceHandlers<typeof EventBrokerService>>;
  groupService: Promise<ServiceHandlers<typeof ConsumerGroupService>>;
  gate: Gate;
  credentials: grpc.ServerCredentials;
  tls: { context: import("node:tls").SecureContextOptions; requireClientCertificate: boolean } | undefined;
  httpFallback: NodeHandlerFn | undefined;
}

/** What start-up takes besides the configuration. */
export interface StartOptions {
  /** Answers HTTP-port requests for paths that are no service method; by default the web console (its files at `/`, 404 elsewhere). */
  httpFallback?: NodeHandlerFn;
}

/** A service as both ports serve it: the same handlers, admitted by the same gate. */
interface ServedService {
  service: DescService;
  handlers: ServiceHandlers<DescService>;
  admit: Admitter | undefined;
}

function served<S extends DescService>(service: S, handlers: ServiceHandlers<S>, admit: Admitter | undefined): ServedService {
  return { service, handlers: handlers as unknown as ServiceHandlers<DescService>, admit };
}

/**
 * The first start-up step, before anything is opened: every service is registered (calls wait for
 * their handlers) and the gRPC and metrics ports are bound, so a port in use fails fast.
 */
async function bindPorts(config: BrokerConfig, log: Logger, opened: OpenedResources, s: Served) {
  const server = new grpc.Server(serverOptions(config, log));
  opened.add("grpc server", () => server.forceShutdown());
  const patches = patchServer(server, patchOptions(config), log);
  if (!speedUpDecoding()) log.info({ protobufEs: PROTOBUF_ES_VERSION, tested: `${PROTOBUF_ES_TESTED}x` }, "protobuf-es decoding not patched (the patches are for another version)");
  const admit = s.gate.enforced ? s.gate.admitter() : undefined;
  const bindOptions = { log, calls: s.calls, onError: (method: string, code: string) => s.metrics.rpcErrors.inc({ method, code }) };
  const services = [
    served(EventBrokerService, deferredHandlers(EventBrokerService, s.brokerService), admit),
    served(ConsumerGroupService, deferredHandlers(ConsumerGroupService, s.groupService), admit),
    served(Health, s.health.handlers(), s.gate.enforced ? s.gate.admitter("health") : undefined),
  ];
  for (const { service, handlers, admit } of services) addService(server, service, handlers, { ...bindOptions, admit });
  addReflection(server, [EventBrokerService, ConsumerGroupService, Health], s.gate.enforced ? { admit: s.gate.admitter("reflection"), log } : undefined);
  const port = await bindPort(server, config, s.credentials);
  const patched = patches.after();
  opened.add("grpc patches", () => patched.stop());
  logPatchReport(patched.report, log);
  s.metrics.watchIncomplete(patched.incompleteBytes);
  const metricsPortSetting = config.metricsPort;
  const metricsServer =
    metricsPortSetting === undefined
      ? undefined
      : await namingSetting("BROKER_METRICS_PORT", `cannot serve metrics on ${config.host}:${metricsPortSetting}`, () => serveMetrics(s.metrics, config.host, metricsPortSetting, log, s.tls));
  if (metricsServer) opened.add("metrics server", () => metricsServer.close());
  const metricsPort = (metricsServer?.address() as { port: number } | null)?.port;
  const httpPortSetting = config.httpPort;
  const http =
    httpPortSetting === undefined
      ? undefined
      : await namingSetting("BROKER_HTTP_PORT", `cannot serve HTTP on ${config.host}:${httpPortSetting}`, () =>
          serveHttp({
            host: config.host,
            port: httpPortSetting,
            log,
            maxMessageBytes: config.maxMessageBytes,
            tls: s.tls,
            handshakeTimeoutMs: config.prefaceTimeoutMs,
            incomplete: patched.incomplete,
            requestTimeouts: { headersMs: config.prefaceTimeoutMs, bodyMs: config.incompleteMessageTimeoutMs },
            allowedHosts: config.httpAllowedHosts,
            fallback: s.httpFallback,
            gRpcPortOnly: clientStreamPaths(services.map((x) => x.service)),
            onRefused: (method) => bindOptions.onError(method, "UNIMPLEMENTED"),
            routes: (router) => {
              for (const { service, handlers, admit } of services) addConnectService(router, service, handlers, { ...bindOptions, admit });
            },
          }),
        );
  if (http) opened.add("http port", () => http.destroy());
  return { server, patched, port, metricsServer, metricsPort, http };
}

/** The second step: the store, the bus (NATS or in-process), the live hub and the committer. */
async function openLog(config: BrokerConfig, log: Logger, opened: OpenedResources, metrics: BrokerMetrics) {
  const store = await openStore(config, log);
  opened.add("store", () => store.close());
  const trace = config.commitTrace === undefined ? undefined : new CommitTrace(config.commitTrace);
  if (trace) {
    store.onCheckpoint = (c) => trace.checkpoint(c);
    opened.add("commit trace", () => trace.close());
  }
  const natsUrl = config.natsUrl;
  const bus: EventBus = natsUrl
    ? await namingSetting("BROKER_NATS_URL", `cannot connect to NATS at ${natsUrl}`, () => NatsBus.connect({ url: natsUrl, subjectPrefix: config.subjectPrefix, log, auth: config.natsAuth }))
    : new InProcessBus();
  opened.add("bus", () => bus.close());
  const listenerFailed = (listener: string) => metrics.listenerErrors.inc({ listener });
  const hub = new LiveHub(store, log, { onListenerError: () => listenerFailed("hub") });
  await hub.start();
  opened.add("live hub", () => hub.close());
  bus.onRemote((e) => hub.offerRemote(e));
  bus.onResync(() => hub.resync());
  const fanout = new CommitFanout(log, listenerFailed)
    .add("metrics", (events) => {
      countPublished(metrics, events);
      metrics.commits.observe(events.length);
    })
    .add("hub", (events) => hub.offerLocal(events))
    .add("bus", (events) => bus.publish(events));
  const committer = new GroupCommitter(store, {
    maxPendingEvents: config.maxPendingEvents,
    onCommitted: (events) => fanout.deliver(events),
    onCommittedError: (err) => log.error({ err }, "commit fan-out failed"),
    onCommitTime: (seconds) => metrics.commitSeconds.observe(seconds),
    ...(trace && { trace: (r: CommitRecord) => trace.commit(r) }),
  });
  return { store, bus, hub, committer };
}

/**
 * Binds the ports first, then opens the store, NATS and the live hub, and returns once the broker
 * serves. Consumer groups resume in the background: their calls wait for it, other calls do not.
 * A failure at any step closes what the earlier steps opened.
 * @throws ConfigError naming the setting when a port, the data directory, MongoDB or NATS cannot be used
 */
export async function startBroker(config: BrokerConfig, log: Logger, options: StartOptions = {}): Promise<BrokerHandle> {
  const opened = new OpenedResources();
  const startedAtMs = Date.now();
  const brokerService = deferred<ServiceHandlers<typeof EventBrokerService>>();
  const groupService = deferred<ServiceHandlers<typeof ConsumerGroupService>>();
  try {
    const metrics = createMetrics();
    const calls = new CallRegistry();
    const health = new HealthState([EventBrokerService.typeName, ConsumerGroupService.typeName]);
    // Policy and certificates before anything is opened: a broker that cannot check its callers does not start.
    const gate = new Gate({ file: config.authFile, log, onDenied: (principal, method) => metrics.authDenials.inc({ principal: principal || "(unauthenticated)", method }) });
    const tls = config.tls && { context: readTlsFiles(config.tls), requireClientCertificate: config.tls.clientCa !== undefined };
    const credentials = tls ? new ReloadableServerCredentials(tls.context, tls.requireClientCertificate, config.prefaceTimeoutMs) : grpc.ServerCredentials.createInsecure();
    const served = { metrics, calls, health, brokerService: brokerService.promise, groupService: groupService.promise, gate, credentials, tls, httpFallback: options.httpFallback ?? consoleFallback(log) };
    const { server, patched, port, metricsServer, metricsPort, http } = await bindPorts(config, log, opened, served);
    const { store, bus, hub, committer } = await openLog(config, log, opened, metrics);
    brokerService.resolve({
      ...publishHandlers({
        committer,
        limits: { maxEventBytes: config.maxEventBytes },
        onDuplicate: () => metrics.duplicates.inc(),
        onRejected: (type, err) => countRejected(metrics, type, err),
        subjectPrefix: config.subjectPrefix,
      }),
      ...queryHandlers({ store, subjectPrefix: config.subjectPrefix, maxMessageBytes: config.maxMessageBytes, whereScanRows: config.whereScanRows }),
      subscribe: subscribeHandler({ store, hub, maxBuffered: config.subscriberBuffer, maxMessageBytes: config.maxMessageBytes, whereScanRows: config.whereScanRows, metrics }),
      ...statsHandlers({ store, bus, startedAtMs, subscribers: async () => (await metrics.subscribers.get()).values[0]?.value ?? 0 }),
    });
    const jslog =
      config.groupBackend === "jetstream" && bus instanceof NatsBus
        ? await namingSetting("BROKER_GROUP_BACKEND", "jetstream: cannot open the durable log on NATS (is JetStream enabled on the server?)", () =>
            JetStreamLog.open({ nc: bus.nc, store, hub, names: durableLogNames(config.subjectPrefix), retentionMs: config.retentionMs, log }),
          )
        : undefined;
    if (jslog) opened.add("jetstream log", () => jslog.close());
    const jsAdmin = jslog && new JetStreamAdmin(log);
    jsAdmin?.onChange((healthy) => health.degrade(ConsumerGroupService.typeName, !healthy));
    const groups = new GroupManager(store, jslog && jsAdmin ? jetstreamFeeds(jslog, store, hub, log, jsAdmin) : storeFeeds(store, hub, log), log, {
      windowEvents: config.groupWindowEvents,
      windowBytes: config.groupWindowBytes,
      maxGroups: config.maxGroups,
      idleMs: config.groupIdleMs,
      memberOutbox: config.subscriberBuffer,
    });
    registerStateGauges(
      metrics,
      {
        groups,
        store,
        health,
        nats: bus instanceof NatsBus ? bus : undefined,
        mirrorLag: jslog && (() => (jslog.mirroring ? Math.max(0, Number(hub.lastSeq - jslog.forwardedSeq)) : 0)),
      },
      log,
    );
    // Resuming many groups can take a while: the broker serves meanwhile, group calls wait for it.
    const resumed = groups.start().then(
      () => groupService.resolve(groupHandlers(groups, { maxMessageBytes: config.maxMessageBytes })),
      (err: unknown) => {
        log.error({ err }, "consumer groups failed to resume");
        groupService.reject(storeUnavailable(err, "consumer groups could not be resumed: see the broker's log"));
      },
    );
    health.setAll(ServingStatus.SERVING);
    const stopMaintenance = startMaintenance(store, health, config, log, jsAdmin && (() => jsAdmin.check()));
    const dataDir = store.kind === "sqlite" ? resolve(config.dataDir) : undefined;
    log.info(
      { host: config.host, port, metricsPort, httpPort: http?.port, store: store.kind, dataDir, bus: bus.kind, groups: config.groupBackend, retentionMs: config.retentionMs, tls: tls !== undefined, mutualTls: tls?.requireClientCertificate === true, policy: config.authFile ?? null },
      "broker started",
    );
    const reload = () => {
      gate.reload();
      if (!config.tls || !(credentials instanceof ReloadableServerCredentials)) return;
      try {
        const context = readTlsFiles(config.tls);
        credentials.replace(context);
        (metricsServer as { setSecureContext?: (c: object) => void } | undefined)?.setSecureContext?.(context);
        http?.setSecureContext(context);
        log.info("tls certificates reloaded");
      } catch (err) {
        log.error({ err }, "tls certificates not reloaded: keeping the previous ones");
      }
    };

    const close = shutdownSequence({ config, log, calls, health, server, patched, committer, stopMaintenance, resumed, groups, jslog, metricsServer, http, hub, bus, store });
    return { port, address: `${config.host}:${port}`, store, health, hub, groups, metricsPort, httpPort: http?.port, reload, close, [Symbol.asyncDispose]: close };
  } catch (err) {
    const failure = err instanceof Error ? err : new Error(String(err));
    brokerService.reject(failure);
    groupService.reject(failure);
    await opened.closeAll(log);
    throw err;
  }
}

interface Running {
  config: BrokerConfig;
  log: Logger;
  calls: CallRegistry;
  health: HealthState;
  server: grpc.Server;
  /** grpc-js internals patched at start-up (their timers stop at shutdown). */
  patched: { stop(): void };
  committer: GroupCommitter;
  stopMaintenance: () => void;
  /** Settles once consumer groups have resumed (or failed to). */
  resumed: Promise<void>;
  groups: GroupManager;
  jslog: JetStreamLog | undefined;
  metricsServer: { close(): unknown } | undefined;
  http: HttpPort | undefined;
  hub: LiveHub;
  bus: EventBus;
  store: EventStore;
}

/** The broker's `close()`: idempotent, in the order calls, commits, groups, NATS, store. */
function shutdownSequence(r: Running): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= (async () => {
      r.log.info({ liveCalls: r.calls.size, pendingEvents: r.committer.pendingEvents }, "broker stopping");
      r.health.setAll(ServingStatus.NOT_SERVING);
      r.stopMaintenance();
      // No new calls from here on; live calls end (streams with UNAVAILABLE, publishes acknowledged).
      r.server.tryShutdown(() => undefined);
      r.http?.stopAccepting();
      r.calls.abortAll(shuttingDown());
      await r.committer.drain();
      const graceful = await Promise.race([r.calls.idle().then(() => true), delay(r.config.shutdownGraceMs).then(() => false)]);
      if (!graceful) r.log.warn({ liveCalls: r.calls.size }, "shutdown grace period over: closing remaining calls");
      // Idle client connections would hold tryShutdown open for ever; no call is cut by closing them.
      r.server.forceShutdown();
      r.http?.destroy();
      r.patched.stop();
      await r.resumed;
      await r.groups.close();
      await r.jslog?.close();
      r.metricsServer?.close();
      r.hub.close();
      await r.bus.close();
      await r.store.close();
      r.log.info({ graceful }, "broker stopped");
    })());
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
