// OpenTelemetry tracing for the broker process: OTLP/HTTP protobuf export, configured by the
// standard OTEL_* variables. Started by main.ts only (it is process-wide); the broker's code uses
// @opentelemetry/api and costs nothing while this is not started.
import { diag, DiagLogLevel } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import type { Logger } from "pino";
import type { TracingConfig } from "./config.js";

export interface Tracing {
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

/** Registers the global tracer provider (sampler from OTEL_TRACES_SAMPLER, batches from OTEL_BSP_*). */
export function startTracing(config: TracingConfig, log: Logger): Tracing {
  const child = log.child({ component: "opentelemetry" });
  diag.setLogger(
    {
      error: (msg, ...args) => child.warn({ detail: args.map(String).join(" ") }, msg),
      warn: (msg, ...args) => child.warn({ detail: args.map(String).join(" ") }, msg),
      info: (msg) => child.debug(msg),
      debug: () => undefined,
      verbose: () => undefined,
    },
    DiagLogLevel.WARN,
  );
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) override the default name.
  const resource = resourceFromAttributes({ "service.name": config.serviceName }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  log.info({ serviceName: config.serviceName }, "tracing on: exporting spans over OTLP");
  return { shutdown: () => provider.shutdown() };
}
