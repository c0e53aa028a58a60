import { pino, type Logger } from "pino";
import * as grpc from "@grpc/grpc-js";
import type { BrokerConfig } from "./config.js";

/** The root logger: NDJSON on stdout (or into `destination`, for tests). */
export function createLogger(level: BrokerConfig["logLevel"], destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: "broker" },
    redact: ["metadata.authorization", "*.password"],
    serializers: { err: pino.stdSerializers.err },
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
