// Starts a real Prometheus (Debian's /usr/bin/prometheus) on a free loopback port with a temporary
// data directory and the given scrape targets and rule files, and stops it by pid.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./nats-server.js";

const BINARY = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].find((p) => existsSync(p));

export interface PrometheusOptions {
  job: string;
  targets: readonly string[];
  ruleFiles: readonly string[];
  /** Scrape and rule evaluation interval. */
  interval: string;
}

export interface Prometheus {
  readonly url: string;
  /** GET /api/v1/<path> and its `data`; throws unless the API answers "success". */
  api<T>(path: string): Promise<T>;
  /** Calls `get` until it returns a value, up to `tries` times 100 ms apart. */
  until<T>(what: string, get: () => Promise<T | undefined>, tries?: number): Promise<T>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startPrometheus(o: PrometheusOptions): Promise<Prometheus> {
  if (!BINARY) throw new Error("prometheus is not installed: apt-get install prometheus (.ci/run does)");
  const dir = mkdtempSync(join(tmpdir(), "prometheus-"));
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    JSON.stringify({
      global: { scrape_interval: o.interval, evaluation_interval: o.interval },
      rule_files: o.ruleFiles,
      scrape_configs: [{ job_name: o.job, static_configs: [{ targets: o.targets }] }],
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let stderr = "";
  const proc: ChildProcess = spawn(BINARY, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ["ignore", "ignore", "pipe"] });
  proc.stderr?.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4_000)));
  const exited = once(proc, "exit");
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const until = async <T>(what: string, get: () => Promise<T | undefined>, tries = 600): Promise<T> => {
    for (let i = 0; i < tries; i++) {
      if (proc.exitCode !== null) throw new Error(`prometheus exited with ${proc.exitCode}: ${stderr}`);
      const v = await get().catch(() => undefined);
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`gave up waiting for ${what}`);
  };
  const api = async <T>(path: string): Promise<T> => {
    const body = (await (await fetch(`${url}/api/v1/${path}`)).json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`prometheus API ${path}: ${body.error ?? body.status}`);
    return body.data;
  };
  try {
    await until("prometheus to be ready", async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined));
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, api, until, [Symbol.asyncDispose]: stop };
}
