// The start-up steps of the broker that can fail because of a setting (a port in use, a data
// directory the broker cannot write, a store or NATS it cannot reach), and the bookkeeping that
// closes whatever was opened before such a failure.
import * as grpc from "@grpc/grpc-js";
import { accessSync, constants, mkdirSync } from "node:fs";
import type { Logger } from "pino";
import { ConfigError, type BrokerConfig } from "./config.js";

/** What start-up has opened so far, closed in reverse order if a later step fails. */
export class OpenedResources {
  private readonly closers: { what: string; close: () => unknown }[] = [];

  /** Registers how to close something just opened. */
  add(what: string, close: () => unknown): void {
    this.closers.push({ what, close });
  }

  /** Closes everything, newest first; a failing close is logged and does not stop the others. */
  async closeAll(log: Logger): Promise<void> {
    for (const { what, close } of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        log.warn({ err, what }, "closing after a failed start-up failed");
      }
    }
  }
}

/** `host:port` for grpc-js, with IPv6 hosts in brackets. */
export function listenAddress(config: Pick<BrokerConfig, "host" | "grpcPort">): string {
  return `${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.grpcPort}`;
}

/**
 * Binds the gRPC port. grpc-js reports a failure as "No address added out of total 1 resolved
 * errors: [listen EADDRINUSE: address already in use 127.0.0.1:50051]"; the bracketed cause is what
 * the operator needs, with the setting that chose the address.
 * @throws ConfigError naming BROKER_GRPC_PORT (or BROKER_HOST when the address is not local)
 */
export function bindPort(server: grpc.Server, config: Pick<BrokerConfig, "host" | "grpcPort">, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  const address = listenAddress(config);
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => {
      if (!err) return resolve(port);
      const cause = /\[(.*)\]\s*$/.exec(err.message)?.[1] ?? err.message;
      const setting = /EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN/.test(cause) ? "BROKER_HOST" : "BROKER_GRPC_PORT";
      const hint = /EADDRINUSE/.test(cause) ? ": another process listens there; stop it or choose another port" : "";
      reject(new ConfigError(`${setting}: cannot listen on ${address} (${cause})${hint}`, { cause: err }));
    });
  });
}

/**
 * Makes sure the embedded store's directory exists and is writable before SQLite opens it, so that
 * the error names the setting rather than a file deep inside the store.
 * @throws ConfigError naming BROKER_DATA_DIR
 */
export function checkDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true });
    accessSync(dataDir, constants.W_OK | constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new ConfigError(`BROKER_DATA_DIR: cannot use '${dataDir}' as the data directory (${code}): it must be a directory the broker can create and write`, { cause: err });
  }
}

/**
 * Runs a start-up step that depends on a setting (connecting to MongoDB or NATS) and names that
 * setting if it fails. A ConfigError from the step passes through unchanged.
 */
export async function namingSetting<T>(setting: string, what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${setting}: ${what} (${describe(err)})`, { cause: err });
  }
}

/** An error's message and, when it wraps one, its cause's (e.g. "the event store is unavailable: connect ECONNREFUSED"). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error && !err.message.includes(err.cause.message) ? `${err.message}: ${err.cause.message}` : err.message;
}
