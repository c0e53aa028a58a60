// The broker's composition root: configuration, logging, signals. Nothing else reads the
// environment or installs signal handlers.
import { startBroker } from "./broker.js";
import { configHelp, ConfigError, loadConfig, wantsHelp } from "./config.js";
import { createLogger, pipeGrpcLogs } from "./logger.js";
import { PolicyError } from "./auth/policy.js";
import { TlsFileError } from "./auth/tls-files.js";
import { tuneV8 } from "./v8-tuning.js";

/** A setting that is malformed or cannot be used: one line naming it, exit code 2. */
function exitWithConfigError(err: Error): never {
  process.stderr.write(`broker: ${err.message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  tuneV8();
  if (wantsHelp(process.argv.slice(2))) {
    process.stdout.write(`${configHelp()}\n`);
    return;
  }
  let config;
  try {
    config = loadConfig(process.env, process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) exitWithConfigError(err);
    throw err;
  }
  const log = createLogger(config.logLevel);
  pipeGrpcLogs(log);
  process.on("uncaughtException", (err) => {
    log.fatal({ err }, "uncaught exception");
    process.exit(1);
  });
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection"));
  // Loaded only when on: a broker without tracing does not pay for the OpenTelemetry SDK's start-up.
  const tracing = config.tracing && (await import("./tracing.js")).startTracing(config.tracing, log);

  // SIGHUP's default action ends the process: take it from the start. One that arrives while the
  // broker starts is applied once it serves.
  let reload: (() => void) | undefined;
  let reloadPending = false;
  process.on("SIGHUP", () => {
    log.info({ signal: "SIGHUP" }, "reload requested");
    if (reload) reload();
    else reloadPending = true;
  });

  // With --expose-gc, SIGUSR2 runs a full GC, for tests and benchmarks that compare memory with a
  // baseline. A signal, not an HTTP request: only the process's owner can send it. Without
  // --expose-gc it is logged and ignored, rather than ending the broker (Node's default for it).
  // Taken from the start, like SIGHUP: a test that sent it as soon as "broker started" was logged
  // could reach the broker before startBroker returned, and ended it (the test then hung).
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on("SIGUSR2", () => {
    if (!gc) return log.warn("SIGUSR2 ignored: a full gc needs node --expose-gc");
    gc();
    log.info("full gc done");
  });

  const broker = await startBroker(config, log).catch((err: unknown) => {
    if (err instanceof ConfigError) exitWithConfigError(err);
    // A policy or certificate file that cannot be used is a configuration error: say which, exit 2.
    if (err instanceof PolicyError || err instanceof TlsFileError) exitWithConfigError(err);
    log.fatal({ err }, "broker failed to start");
    process.exit(1);
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutdown requested");
    broker
      .close()
      .then(() => tracing?.shutdown())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  reload = () => broker.reload();
  if (reloadPending) reload();
}

void main();
