import { pino, type Logger } from "pino";
import * as grpc from "@grpc/grpc-js";
import { trace } from "@opentelemetry/api";
import type { BrokerConfig } from "./config.js";

/** The root logger: NDJSON on stdout (or into `destination`, for tests). */
export function createLogger(level: BrokerConfig["logLevel"], destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: "broker" },
    redact: ["metadata.authorization", "*.password"],
    serializers: { err: pino.stdSerializers.err },
    mixin: traceFields,
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Routes grpc-js's own diagnostics into the broker's log. */
export function pipeGrpcLogs(log: Logger): void {
  const child = log.child({ component: "grpc-js" });
  grpc.setLogger({
    error: (...args: unknown[]) => child.warn({ detail: args.map(String).join(" ") }, "grpc-js"),
    info: (...args: unknown[]) => child.debug({ detail: args.map(String).join(" ") }, "grpc-js"),
    debug: (...args: unknown[]) => child.trace({ detail: args.map(String).join(" ") }, "grpc-js"),
  } as unknown as Console);
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
}

/**
 * `trace_id` and `span_id` of the span active while a line is logged (none without tracing). A
 * fresh object each time: pino merges the line's own fields into it.
 */
function traceFields(): object {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
}
