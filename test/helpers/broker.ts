// Starts a real broker in-process on 127.0.0.1:0 with its own temporary data directory, and a
// real SDK client connected to it over gRPC.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { startBroker, type BrokerHandle, type StartOptions } from "../../server/src/broker.js";
import { loadConfig } from "../../server/src/config.js";
import { createLogger } from "../../server/src/logger.js";
import { createBrokerClient, type BrokerClient, type BrokerClientOptions } from "../../sdk/src/index.js";

/** A log sink: every JSON line the broker wrote, parsed. */
export class LogSink extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }
}

export interface TestBroker {
  broker: BrokerHandle;
  client: BrokerClient;
  address: string;
  port: number;
  dataDir: string;
  logs: LogSink;
  /** Another client on the same broker. */
  newClient(options?: Partial<BrokerClientOptions>): BrokerClient;
  /** Stops the broker; with `keepData` the data directory survives (for restarts). */
  close(options?: { keepData?: boolean }): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Options: any BROKER_* variable, plus an existing data directory to reuse. The broker removes the
 * directory on close when it made it, or when told to `adopt` it (a restart on a kept directory);
 * a directory shared with a running broker is left to that broker.
 */
export async function startTestBroker(env: Record<string, string> = {}, dataDir?: string, options: { adopt?: boolean; start?: StartOptions } = {}): Promise<TestBroker> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "broker-test-"));
  const config = loadConfig({ BROKER_GRPC_PORT: "0", BROKER_DATA_DIR: dir, BROKER_SQLITE_SYNC: "normal", BROKER_SHUTDOWN_GRACE_MS: "2000", ...env });
  const logs = new LogSink();
  const broker = await startBroker(config, createLogger("debug", logs), options.start).catch((err: unknown) => {
    // A broker that refused to start leaves no directory behind (tests expect such refusals).
    if (dataDir === undefined) rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const clients: BrokerClient[] = [];
  const newClient = (options: Partial<BrokerClientOptions> = {}) => {
    const c = createBrokerClient({ address: broker.address, source: "test-svc", ...options });
    clients.push(c);
    return c;
  };
  const client = newClient();
  let closed = false;
  const close = async (closeOptions: { keepData?: boolean } = {}) => {
    if (closed) return;
    closed = true;
    for (const c of clients) c.close();
    await broker.close();
    if (!closeOptions.keepData && (dataDir === undefined || options.adopt)) rmSync(dir, { recursive: true, force: true });
    // A call still open after the grace period is a leak (a stream nobody ended): fail loudly.
    const stopped = logs.lines.find((l) => l["msg"] === "broker stopped");
    if (stopped?.["graceful"] !== true) throw new Error("broker shutdown needed forceShutdown: a call was left open");
  };
  return { broker, client, address: broker.address, port: broker.port, dataDir: dir, logs, newClient, close, [Symbol.asyncDispose]: () => close() };
}
