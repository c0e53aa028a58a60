// Prometheus metrics (prom-client): process and Node.js metrics (memory, GC pauses, event-loop
// delay) plus the broker's own, served on BROKER_METRICS_PORT at /metrics.
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { SecureContextOptions } from "node:tls";
import { once } from "node:events";
import client from "prom-client";
import type { Logger } from "pino";

export interface BrokerMetrics {
  readonly registry: client.Registry;
  readonly published: client.Counter;
  readonly duplicates: client.Counter;
  readonly rpcErrors: client.Counter<"method" | "code">;
  readonly commits: client.Histogram;
  readonly commitSeconds: client.Histogram;
  readonly subscribers: client.Gauge;
  readonly deliveries: client.Counter;
  readonly slowConsumers: client.Counter;
  readonly authDenials: client.Counter<"principal" | "method">;
}

export function createMetrics(): BrokerMetrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, gcDurationBuckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5] });
  const m = {
    registry,
    published: new client.Counter({ name: "broker_events_published_total", help: "Events made durable", registers: [registry] }),
    duplicates: new client.Counter({ name: "broker_events_duplicate_total", help: "Publishes of an id already stored with the same content", registers: [registry] }),
    rpcErrors: new client.Counter({ name: "broker_rpc_errors_total", help: "Failed calls by method and gRPC code", labelNames: ["method", "code"] as const, registers: [registry] }),
    commits: new client.Histogram({ name: "broker_store_commit_events", help: "Events per store commit (group commit)", buckets: [1, 4, 16, 64, 256, 1024, 4096], registers: [registry] }),
    commitSeconds: new client.Histogram({ name: "broker_store_commit_seconds", help: "Time of a store commit, from hand-over to durable outcome", buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5], registers: [registry] }),
    subscribers: new client.Gauge({ name: "broker_subscribers", help: "Open Subscribe streams", registers: [registry] }),
    deliveries: new client.Counter({ name: "broker_subscription_deliveries_total", help: "Events written to Subscribe streams", registers: [registry] }),
    slowConsumers: new client.Counter({ name: "broker_slow_consumers_total", help: "Subscribers ended for being too slow", registers: [registry] }),
    authDenials: new client.Counter({ name: "broker_auth_denials_total", help: "Calls refused as unauthenticated or not permitted, by principal and method", labelNames: ["principal", "method"] as const, registers: [registry] }),
  };
  return m;
}

/** TLS of the metrics port: the broker's certificate, and client certificates when mutual TLS is on. */
export interface MetricsTls {
  context: SecureContextOptions;
  requireClientCertificate: boolean;
}

/**
 * Serves /metrics (over HTTPS with `tls`). With `?gc=1` and the process started with --expose-gc, a full GC runs first
 * (for tests and benchmarks that compare memory with a baseline).
 */
export async function serveMetrics(metrics: BrokerMetrics, host: string, port: number, log: Logger, tls?: MetricsTls): Promise<Server> {
  const server = (tls ? createHttpsServer({ ...tls.context, requestCert: tls.requireClientCertificate, rejectUnauthorized: tls.requireClientCertificate }) : createServer()).on("request", (req, res) => {
    if (!req.url?.startsWith("/metrics")) {
      res.writeHead(404).end();
      return;
    }
    const gc = (globalThis as { gc?: () => void }).gc;
    if (req.url.includes("gc=1") && gc) gc();
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
