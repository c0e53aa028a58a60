// The broker's composition root: configuration, logging, signals. Nothing else reads the
// environment or installs signal handlers.
import { startBroker } from "./broker.js";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger, pipeGrpcLogs } from "./logger.js";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`broker: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  pipeGrpcLogs(log);
  process.on("uncaughtException", (err) => {
    log.fatal({ err }, "uncaught exception");
    process.exit(1);
  });
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection"));

  const broker = await startBroker(config, log).catch((err: unknown) => {
    log.fatal({ err }, "broker failed to start");
    process.exit(1);
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutdown requested");
    broker.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  // With --expose-gc, SIGUSR2 runs a full GC, for tests and benchmarks that compare memory with a
  // baseline. A signal, not an HTTP request: only the process's owner can send it.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    process.on("SIGUSR2", () => {
      gc();
      log.info("full gc done");
    });
  }
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

void main();
