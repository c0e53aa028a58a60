// Prometheus metrics (prom-client): process and Node.js metrics (memory, GC pauses, event-loop
// delay) plus the broker's own, served on BROKER_METRICS_PORT at /metrics.
import { createServer, type Server } from "node:http";
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
  /** Reports `held()` as broker_incomplete_message_bytes at each scrape. */
  watchIncomplete(held: () => number): void;
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
  };
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

/**
 * Serves GET /metrics (a query string is ignored; any other path is 404). Nothing a caller of this
 * port sends changes the broker: tests that need a full GC send the process SIGUSR2 (main.ts).
 */
export async function serveMetrics(metrics: BrokerMetrics, host: string, port: number, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
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
