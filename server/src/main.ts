// The broker's composition root: configuration, logging, signals. Nothing else reads the
// environment or installs signal handlers.
import { startBroker } from "./broker.js";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger, pipeGrpcLogs } from "./logger.js";
import { PolicyError } from "./auth/policy.js";
import { TlsFileError } from "./auth/tls-files.js";

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
    // A policy or certificate file that cannot be used is a configuration error: say which, exit 2.
    if (err instanceof PolicyError || err instanceof TlsFileError) {
      log.fatal({ reason: err.message }, "broker failed to start");
      process.stderr.write(`broker: ${err.message}\n`);
      process.exit(2);
    }
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
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => {
    log.info({ signal: "SIGHUP" }, "reload requested");
    broker.reload();
  });
}

void main();
