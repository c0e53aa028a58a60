// Runs the broker as a real child process (server/src/main.ts), for tests of signals, crashes and
// restarts. The process is stopped by pid.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

export interface BrokerProcess {
  proc: ChildProcess;
  port: number;
  address: string;
  /** Port of /metrics when BROKER_METRICS_PORT was given. */
  metricsPort: number | undefined;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  stderr: () => string;
  /** Sends a signal and waits for the exit; returns the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const MAIN = new URL("../../server/src/main.ts", import.meta.url).pathname;
/** The compiled broker (`npm run build`). */
export const DIST_MAIN = new URL("../../dist/server/src/main.js", import.meta.url).pathname;

/**
 * Starts `node --import tsx server/src/main.ts` (or, with `main`, a compiled entry such as
 * {@link DIST_MAIN}) with `env` and resolves once it logged its port.
 */
export async function spawnBroker(env: Record<string, string>, timeoutMs = 60_000, nodeArgs: string[] = [], main?: string): Promise<BrokerProcess> {
  const proc = spawn(process.execPath, [...nodeArgs, ...(main ? [main] : ["--import", "tsx", MAIN])], {
    env: { ...process.env, BROKER_GRPC_PORT: "0", BROKER_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  proc.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = once(proc, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker did not start: ${stderr}`)), timeoutMs);
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry["msg"] === "broker started") {
          clearTimeout(timer);
          resolve(entry["port"] as number);
        }
      } catch {
        // not a log line
      }
    });
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before starting: ${stderr}`));
    });
  });
  const started = logs.find((l) => l["msg"] === "broker started");
  return {
    proc,
    port,
    address: `127.0.0.1:${port}`,
    metricsPort: started?.["metricsPort"] as number | undefined,
    logs,
    stderr: () => stderr,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const [code, sig] = await exited;
      return { code, signal: sig };
    },
  };
}

/** Resident set size of a broker process (VmRSS), MiB: what the machine sees, garbage included. */
export function rssMiB(b: BrokerProcess): number {
  const line = readFileSync(`/proc/${b.proc.pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
  return Number(/(\d+)/.exec(line ?? "")?.[1] ?? NaN) / 1024;
}

/** Runs main.ts (with `args`) expecting it to end by itself; returns its exit code and output. */
export async function runBrokerExpectingFailure(env: Record<string, string>, args: string[] = []): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const proc = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let stdout = "";
  proc.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
  proc.stdout?.on("data", (b: Buffer) => (stdout += b.toString()));
  const [code] = (await once(proc, "exit")) as [number | null];
  return { code, stderr, stdout };
}

/** How long a full GC may take to be logged done before {@link liveMemoryMiB} fails (a loaded machine). */
const FULL_GC_WAIT_MS = 30_000;

/**
 * Sends SIGUSR2 (a full GC, with --expose-gc) and resolves once the broker logged it done; fails,
 * rather than waiting for ever, when the broker has exited or does not answer.
 */
async function fullGc(b: BrokerProcess): Promise<void> {
  const done = () => b.logs.filter((l) => l["msg"] === "full gc done").length;
  const exited = () => b.proc.exitCode !== null || b.proc.signalCode !== null;
  const before = done();
  b.proc.kill("SIGUSR2");
  const since = Date.now();
  while (done() === before) {
    if (exited()) throw new Error(`broker exited (code ${b.proc.exitCode}, signal ${b.proc.signalCode}) before a full gc: ${b.stderr()}`);
    if (Date.now() - since > FULL_GC_WAIT_MS) throw new Error(`broker did not log a full gc within ${FULL_GC_WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A broker process's live memory after a full GC (it must run with --expose-gc and a metrics
 * port): JavaScript heap plus buffers outside it, where queued bytes sit. MiB.
 */
export async function liveMemoryMiB(b: BrokerProcess): Promise<number> {
  await fullGc(b);
  const text = await (await fetch(`http://127.0.0.1:${b.metricsPort}/metrics`)).text();
  const value = (name: string) => Number(text.split("\n").find((l) => l.startsWith(`${name} `))?.split(" ")[1]);
  return (value("nodejs_heap_size_used_bytes") + value("nodejs_external_memory_bytes")) / 2 ** 20;
}
