// Starts a real nats-server (Debian's /usr/sbin/nats-server) on a free loopback port with a
// temporary JetStream directory, and stops it by pid.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BINARY = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].find((p) => existsSync(p)) ?? "nats-server";

/** Thrown when there is no nats-server to start, rather than a misleading "did not listen". */
export class NatsServerMissingError extends Error {
  override name = "NatsServerMissingError";
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, "close");
  return port;
}

async function waitForPort(port: number, timeoutMs: number, failed: () => Error | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failure = failed();
    if (failure) throw failure;
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface NatsServer {
  readonly port: number;
  readonly url: string;
  readonly pid: number | undefined;
  /** Kills the server (SIGKILL by default) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and store directory. */
  restart(): Promise<void>;
  /**
   * Replaces the configuration (of a server started with `config`) and tells the server to read it
   * again (SIGHUP); it does so shortly after, for connections already open too.
   */
  reconfigure(config: string): void;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface NatsServerOptions {
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** Serve the HTTP monitoring endpoints (/connz, /varz) on this port. */
  monitorPort?: number;
  /** A nats-server configuration file's text (e.g. users and permissions); flags set address, port and JetStream. */
  config?: string;
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "nats-js-"));
  const jetstream = options.jetstream !== false;
  const configPath = join(dir, "nats.conf");
  // With a file, JetStream is configured in it: a reload of a file without it would shut JetStream down.
  const writeConfig = (config: string) => writeFileSync(configPath, `${jetstream ? `jetstream { store_dir: ${JSON.stringify(dir)} }\n` : ""}${config}`);
  if (options.config !== undefined) writeConfig(options.config);
  const configArgs = options.config === undefined ? (jetstream ? ["-js", "-sd", dir] : []) : ["-c", configPath];
  const args = [...configArgs, "-a", "127.0.0.1", "-p", String(port), ...(options.monitorPort ? ["-m", String(options.monitorPort)] : [])];
  let proc: ChildProcess | undefined;
  const launch = async () => {
    let failure: Error | undefined;
    const p = spawn(BINARY, args, { stdio: "ignore" });
    proc = p;
    p.on("error", (err: NodeJS.ErrnoException) => {
      failure = err.code === "ENOENT" ? new NatsServerMissingError("nats-server not found on PATH: install it (Debian: apt-get install nats-server)") : err;
    });
    p.on("exit", (code, signal) => (failure ??= new Error(`nats-server exited (${code ?? signal}) before listening on ${port}`)));
    try {
      await waitForPort(port, 10_000, () => failure);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  };
  const stop = async (signal: NodeJS.Signals = "SIGKILL") => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = once(p, "exit");
    p.kill(signal);
    await exited;
  };
  await launch();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    get pid() {
      return proc?.pid;
    },
    stop,
    restart: launch,
    reconfigure(config) {
      if (options.config === undefined || !proc?.pid) throw new Error("nats-server runs without a configuration file");
      writeConfig(config);
      process.kill(proc.pid, "SIGHUP");
    },
    async [Symbol.asyncDispose]() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
