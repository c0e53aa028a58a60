import { pino, type Logger } from "pino";
import * as grpc from "@grpc/grpc-js";
import { trace } from "@opentelemetry/api";
import type { BrokerConfig } from "./config.js";
import { clipBytes } from "./clip.js";

/**
 * Bytes of an error's message and of its stack in a log line: an unexpected error can carry a
 * client's input (one failed call once logged a 1 MB line).
 */
export const MAX_LOGGED_ERROR_BYTES = 4_096;

/** pino's error serializer, with the message and stack cut to MAX_LOGGED_ERROR_BYTES. */
function boundedErr(err: Error): unknown {
  const out = pino.stdSerializers.err(err) as unknown;
  // pino serializes whatever sits under `err`: null, a string, a number go through as they are.
  if (typeof out !== "object" || out === null) return out;
  for (const key of ["message", "stack"]) {
    const v = (out as Record<string, unknown>)[key];
    if (typeof v === "string") (out as Record<string, unknown>)[key] = clipBytes(v, MAX_LOGGED_ERROR_BYTES);
  }
  return out;
}

/** The root logger: NDJSON on stdout (or into `destination`, for tests). */
export function createLogger(level: BrokerConfig["logLevel"], destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: "broker" },
    redact: ["metadata.authorization", "*.password"],
    serializers: { err: boundedErr },
    mixin: traceFields,
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Routes grpc-js's own diagnostics into the broker's log. */
export function pipeGrpcLogs(log: Logger): void {
  const child = log.child({ component: "grpc-js" });
  const detail = (args: unknown[]) => clipBytes(args.map(String).join(" "), MAX_LOGGED_ERROR_BYTES);
  grpc.setLogger({
    error: (...args: unknown[]) => child.warn({ detail: detail(args) }, "grpc-js"),
    info: (...args: unknown[]) => child.debug({ detail: detail(args) }, "grpc-js"),
    debug: (...args: unknown[]) => child.trace({ detail: detail(args) }, "grpc-js"),
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
