import { parseDurationMs } from "../../sdk/src/duration.js";

/** Everything the broker is configured with, validated once at start-up. */
export interface BrokerConfig {
  host: string;
  /** 0 asks the OS for a free port (tests); the bound port is logged. */
  grpcPort: number;
  dataDir: string;
  mongodbUrl: string | undefined;
  mongodbDatabase: string;
  /** "majority" or a number of nodes. */
  mongodbWriteConcern: "majority" | number;
  /** Longest one MongoDB commit (with its retries) or read may take before UNAVAILABLE. */
  mongodbTimeoutMs: number;
  natsUrl: string | undefined;
  subjectPrefix: string;
  retentionMs: number;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  maxEventBytes: number;
  maxMessageBytes: number;
  /** Events accepted but not yet committed before publishes are refused with RESOURCE_EXHAUSTED. */
  maxPendingEvents: number;
  shutdownGraceMs: number;
  /** Live events a subscriber may have waiting before it is ended as too slow. */
  subscriberBuffer: number;
  /** Events one QueryEvents page or Replay read examines at most for a `where` (a count: 10×). */
  whereScanRows: number;
  /**
   * Where consumer groups keep their progress and get redelivery: "jetstream" (durable consumers,
   * shared by every replica; needs BROKER_NATS_URL) or "store" (inside this broker).
   */
  groupBackend: "jetstream" | "store";
  /** Unfinished events a consumer group holds in memory at most (its window). */
  groupWindowEvents: number;
  /** Bytes of unfinished events a consumer group holds in memory at most. */
  groupWindowBytes: number;
  /** Consumer groups this broker holds at most. */
  maxGroups: number;
  /** How long a consumer group without members keeps its runtime and window. */
  groupIdleMs: number;
  /** Port of the Prometheus /metrics endpoint; undefined turns it off, 0 picks a free port. */
  metricsPort: number | undefined;
  /** Port of the HTTP door (Connect, gRPC-web, JSON); undefined turns it off, 0 picks a free port. */
  httpPort: number | undefined;
  /** Host names the HTTP port answers besides IP addresses, localhost and BROKER_HOST ("*": any). */
  httpAllowedHosts: readonly string[];
  /** SQLite synchronous mode: "full" survives power loss, "normal" survives a process crash. */
  sqliteSync: "full" | "normal";
  /** Diagnostics: a file to append a trace of every store commit to (see commit-trace.ts); off when undefined. */
  commitTrace: string | undefined;
  /** Bytes of partly received request messages one connection may hold (default 2 × maxMessageBytes). */
  maxIncompleteBytesPerConnection: number;
  /** Bytes of partly received request messages the broker may hold, all connections together. */
  maxIncompleteBytes: number;
  /** How long a request message may stay incomplete with no byte arriving. */
  incompleteMessageTimeoutMs: number;
  /** How long a new connection may take to send the HTTP/2 preface. */
  prefaceTimeoutMs: number;
  /** TLS on the gRPC, HTTP and metrics ports (PEM files); with `clientCa`, client certificates are required. */
  tls: TlsFiles | undefined;
  /** The access policy (YAML or JSON); undefined serves every caller with every right. */
  authFile: string | undefined;
  /** Serve a non-loopback address without TLS or a policy (BROKER_INSECURE=true). */
  insecure: boolean;
  /** How the broker authenticates to NATS and verifies its server. */
  natsAuth: NatsAuth;
  /** OpenTelemetry tracing from the standard OTEL_* variables; undefined when off (the default). */
  tracing: TracingConfig | undefined;
}

/** PEM file paths of a TLS endpoint. */
export interface TlsFiles {
  cert: string;
  key: string;
  clientCa: string | undefined;
}

/** Credentials and TLS for the broker's NATS connection; every field optional. */
export interface NatsAuth {
  /** A NATS .creds file (user JWT and NKey seed). */
  credsFile?: string;
  user?: string;
  password?: string;
  token?: string;
  /** CA of the NATS server's certificate (turns on TLS). */
  tlsCa?: string;
  /** Client certificate and key, when the NATS server requires mutual TLS. */
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * Tracing is on when an OTLP endpoint is given (or OTEL_TRACES_EXPORTER=otlp) and OTEL_SDK_DISABLED
 * is not true. The OpenTelemetry SDK reads its other OTEL_* variables itself (headers, timeouts,
 * batch sizes); the ones it would silently ignore or misread are checked here.
 */
export interface TracingConfig {
  /** OTEL_SERVICE_NAME, default "qingyu-broker". */
  serviceName: string;
}

/** Thrown for a missing or malformed setting; the message names the variable and the value. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export const DEFAULTS: Readonly<Record<string, string>> = {
  BROKER_HOST: "127.0.0.1",
  BROKER_GRPC_PORT: "50051",
  BROKER_DATA_DIR: "./data",
  BROKER_MONGODB_DATABASE: "qingyu_broker",
  BROKER_MONGODB_WRITE_CONCERN: "majority",
  BROKER_MONGODB_TIMEOUT_MS: "10000",
  BROKER_SUBJECT_PREFIX: "events",
  BROKER_RETENTION: "30d",
  BROKER_LOG_LEVEL: "info",
  BROKER_MAX_EVENT_BYTES: String(1 << 20),
  BROKER_MAX_MESSAGE_BYTES: String(16 << 20),
  BROKER_MAX_PENDING_EVENTS: "100000",
  BROKER_SHUTDOWN_GRACE_MS: "10000",
  BROKER_SUBSCRIBER_BUFFER: "10000",
  BROKER_WHERE_SCAN_ROWS: "10000",
  BROKER_GROUP_WINDOW_EVENTS: "10000",
  BROKER_GROUP_WINDOW_BYTES: String(8 << 20),
  BROKER_MAX_GROUPS: "1000",
  BROKER_GROUP_IDLE_MS: "10000",
  BROKER_SQLITE_SYNC: "full",
  BROKER_MAX_INCOMPLETE_BYTES: String(128 << 20),
  BROKER_INCOMPLETE_MESSAGE_TIMEOUT_MS: "30000",
  BROKER_PREFACE_TIMEOUT_MS: "10000",
  BROKER_INSECURE: "false",
};

/** What each setting means, for `--help`; settings without a default are optional. */
export const SETTING_HELP: Readonly<Record<string, string>> = {
  BROKER_HOST: "interface to listen on",
  BROKER_GRPC_PORT: "gRPC port; 0 picks a free one",
  BROKER_DATA_DIR: "directory of the embedded store (events.db), relative to the working directory",
  BROKER_MONGODB_URL: "use MongoDB (replica set) instead of the embedded store",
  BROKER_MONGODB_DATABASE: "MongoDB database",
  BROKER_MONGODB_WRITE_CONCERN: "'majority' or a number of nodes",
  BROKER_MONGODB_TIMEOUT_MS: "longest one MongoDB commit or read may take before UNAVAILABLE",
  BROKER_NATS_URL: "NATS server for fan-out between replicas; without it, in-process",
  BROKER_GROUP_BACKEND: "consumer groups on 'jetstream' or 'store'; 'auto' picks JetStream with NATS",
  BROKER_SUBJECT_PREFIX: "first token(s) of NATS subjects",
  BROKER_RETENTION: "how long events are kept: 90m, 12h, 30d, 2w",
  BROKER_LOG_LEVEL: "fatal error warn info debug trace silent",
  BROKER_MAX_EVENT_BYTES: "largest encoded event accepted",
  BROKER_MAX_MESSAGE_BYTES: "largest gRPC message",
  BROKER_MAX_PENDING_EVENTS: "uncommitted events before publishes get RESOURCE_EXHAUSTED",
  BROKER_SHUTDOWN_GRACE_MS: "how long SIGTERM waits for calls before closing them",
  BROKER_SUBSCRIBER_BUFFER: "live events a subscriber may have waiting",
  BROKER_GROUP_WINDOW_BYTES: "bytes of events a consumer group holds in memory (one larger event passes alone)",
  BROKER_MAX_GROUPS: "consumer groups this broker holds; CreateGroup beyond it gets RESOURCE_EXHAUSTED",
  BROKER_GROUP_IDLE_MS: "how long a consumer group without members keeps its window before it is released",
  BROKER_METRICS_PORT: "serve Prometheus metrics on this port",
  BROKER_HTTP_PORT: "serve the services over HTTP (Connect JSON/binary, gRPC-web) on this port",
  BROKER_HTTP_ALLOWED_HOSTS: "host names the HTTP port answers besides IP addresses, localhost and BROKER_HOST (comma-separated, * for any)",
  BROKER_SQLITE_SYNC: "full (an ack survives power loss) or normal (a process crash)",
  BROKER_COMMIT_TRACE: "diagnostics: append a trace of every store commit, GC pause and event-loop delay to this file",
};

/** Every setting the broker reads, in the order `--help` lists them. */
function settingNames(): string[] {
  return [...new Set([...Object.keys(SETTING_HELP), ...Object.keys(DEFAULTS)])];
}

/** `BROKER_GRPC_PORT` -> `--grpc-port`. */
function flagOf(name: string): string {
  return `--${name.replace(/^BROKER_/, "").toLowerCase().replace(/_/g, "-")}`;
}

/** `--help`: every setting as a flag and a variable, with its default and meaning. */
export function configHelp(): string {
  const names = settingNames();
  const width = Math.max(...names.map((n) => flagOf(n).length));
  const rows = names.map((name) => {
    const def = DEFAULTS[name] === undefined ? "" : ` (default ${DEFAULTS[name]})`;
    return `  ${flagOf(name).padEnd(width)}  ${name}: ${SETTING_HELP[name] ?? ""}${def}`;
  });
  return ["usage: broker [--flag value | --flag=value]...", "", "Every setting is a flag or an environment variable; flags win.", "", ...rows].join("\n");
}

/** Whether the command line asks for `--help`. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes("--help") || argv.includes("-h");
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length] ?? 0;
}

function unknownFlag(arg: string, name: string): ConfigError {
  const near = settingNames().find((known) => editDistance(known, name) <= 2);
  return new ConfigError(`unknown flag '${arg}'${near ? `: did you mean '${flagOf(near)}'?` : ""} (broker --help lists the settings)`);
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Command-line flags override the environment: `--grpc-port 0` sets BROKER_GRPC_PORT, and so on
 * for every variable (`--data-dir`, `--nats-url`, `--retention`...). A flag that names no setting
 * is refused, so a typo cannot start the broker with a default the operator did not mean.
 */
export function flagsToEnv(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const m = /^--([a-z][a-z-]*)(?:=(.*))?$/.exec(arg);
    if (!m) throw new ConfigError(`unexpected argument '${arg}'`);
    const value = m[2] ?? argv[++i];
    const name = `BROKER_${(m[1] ?? "").replace(/-/g, "_").toUpperCase()}`;
    if (!settingNames().includes(name)) throw unknownFlag(arg.replace(/=.*$/, ""), name);
    if (value === undefined) throw new ConfigError(`flag '${arg}' needs a value`);
    out[name] = value;
  }
  return out;
}

function integer(env: Env, name: string, min: number, max: number): number {
  const raw = env[name] ?? DEFAULTS[name] ?? "";
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new ConfigError(`${name} must be an integer ${min}-${max}, got '${raw}'`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[]): T {
  const raw = (env[name] ?? DEFAULTS[name] ?? "").toLowerCase();
  if (!values.includes(raw as T)) throw new ConfigError(`${name} must be one of ${values.join(", ")}, got '${raw}'`);
  return raw as T;
}

function url(env: Env, name: string, schemes: readonly string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined || !schemes.includes(scheme)) {
    throw new ConfigError(`${name} must be a ${schemes.join(" or ")} URL, got '${raw}'`);
  }
  return raw;
}

function text(env: Env, name: string, pattern: RegExp, what: string): string {
  const raw = env[name] ?? DEFAULTS[name] ?? "";
  if (!pattern.test(raw)) throw new ConfigError(`${name} must be ${what}, got '${raw}'`);
  return raw;
}

function retention(env: Env): number {
  const raw = env["BROKER_RETENTION"] ?? DEFAULTS["BROKER_RETENTION"] ?? "";
  const ms = parseDurationMs(raw);
  if (ms === undefined || ms < 60_000) throw new ConfigError(`BROKER_RETENTION must be a duration of at least 1m such as '30d', got '${raw}'`);
  return ms;
}

function writeConcern(env: Env): "majority" | number {
  const raw = env["BROKER_MONGODB_WRITE_CONCERN"] ?? DEFAULTS["BROKER_MONGODB_WRITE_CONCERN"] ?? "";
  if (raw === "majority") return raw;
  if (/^[1-9]\d?$/.test(raw)) return Number(raw);
  throw new ConfigError(`BROKER_MONGODB_WRITE_CONCERN must be 'majority' or a number of nodes, got '${raw}'`);
}

function groupBackend(env: Env): "jetstream" | "store" {
  const raw = (env["BROKER_GROUP_BACKEND"] ?? "auto").toLowerCase();
  const nats = env["BROKER_NATS_URL"] !== undefined && env["BROKER_NATS_URL"] !== "";
  if (raw === "auto") return nats ? "jetstream" : "store";
  if (raw !== "jetstream" && raw !== "store") throw new ConfigError(`BROKER_GROUP_BACKEND must be one of auto, jetstream, store, got '${raw}'`);
  if (raw === "jetstream" && !nats) throw new ConfigError("BROKER_GROUP_BACKEND=jetstream needs BROKER_NATS_URL");
  return raw;
}

/** The bounds on partly received messages; each must hold at least one message of the largest size. */
function incompleteBounds(env: Env, maxMessageBytes: number): Pick<BrokerConfig, "maxIncompleteBytesPerConnection" | "maxIncompleteBytes"> {
  const perName = "BROKER_MAX_INCOMPLETE_BYTES_PER_CONNECTION";
  const per = env[perName] === undefined || env[perName] === "" ? 2 * maxMessageBytes : integer(env, perName, maxMessageBytes, 2 ** 40);
  // Left unset, the total follows a per-connection bound raised above it (a message limit above 64 MiB).
  const totalName = "BROKER_MAX_INCOMPLETE_BYTES";
  const total = env[totalName] === undefined || env[totalName] === "" ? Math.max(integer(env, totalName, 0, 2 ** 40), per) : integer(env, totalName, 0, 2 ** 40);
  if (total < per) throw new ConfigError(`BROKER_MAX_INCOMPLETE_BYTES must be at least the per-connection bound (${per}), got '${total}'`);
  return { maxIncompleteBytesPerConnection: per, maxIncompleteBytes: total };
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === "" ? undefined : raw;
}

function tlsFiles(env: Env): TlsFiles | undefined {
  const cert = optional(env, "BROKER_TLS_CERT");
  const key = optional(env, "BROKER_TLS_KEY");
  const clientCa = optional(env, "BROKER_TLS_CLIENT_CA");
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError("BROKER_TLS_CERT and BROKER_TLS_KEY must be given together");
  if (cert === undefined || key === undefined) {
    if (clientCa !== undefined) throw new ConfigError("BROKER_TLS_CLIENT_CA needs BROKER_TLS_CERT and BROKER_TLS_KEY");
    return undefined;
  }
  return { cert, key, clientCa };
}

function natsAuth(env: Env): NatsAuth {
  const pick = (name: string) => optional(env, `BROKER_NATS_${name}`);
  const out: NatsAuth = {};
  const set = <K extends keyof NatsAuth>(k: K, v: string | undefined) => v !== undefined && (out[k] = v);
  set("credsFile", pick("CREDS"));
  set("user", pick("USER"));
  set("password", pick("PASSWORD"));
  set("token", pick("TOKEN"));
  set("tlsCa", pick("TLS_CA"));
  set("tlsCert", pick("TLS_CERT"));
  set("tlsKey", pick("TLS_KEY"));
  if ((out.user === undefined) !== (out.password === undefined)) throw new ConfigError("BROKER_NATS_USER and BROKER_NATS_PASSWORD must be given together");
  if ((out.tlsCert === undefined) !== (out.tlsKey === undefined)) throw new ConfigError("BROKER_NATS_TLS_CERT and BROKER_NATS_TLS_KEY must be given together");
  return out;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/i;

/**
 * Safe defaults: a loopback address may be served open, as in development; any other address needs
 * TLS and a policy, unless the operator says BROKER_INSECURE=true (e.g. docker-compose on a laptop).
 */
function checkExposure(config: BrokerConfig): BrokerConfig {
  if (config.insecure || LOOPBACK.test(config.host)) return config;
  const missing = [config.tls ? undefined : "BROKER_TLS_CERT and BROKER_TLS_KEY", config.authFile ? undefined : "BROKER_AUTH_FILE"].filter(Boolean);
  if (missing.length > 0) {
    throw new ConfigError(`BROKER_HOST '${config.host}' is not a loopback address: set ${missing.join(" and ")}, or BROKER_INSECURE=true to serve it without them`);
  }
  return config;
}

/**
 * Reads and validates the configuration. The only place that reads the environment.
 * @throws ConfigError naming the first bad setting
 */
export function loadConfig(env: Env = process.env, argv: readonly string[] = []): BrokerConfig {
  const merged: Env = { ...env, ...flagsToEnv(argv) };
  const maxMessageBytes = integer(merged, "BROKER_MAX_MESSAGE_BYTES", 64 << 10, 256 << 20);
  const maxEventBytes = integer(merged, "BROKER_MAX_EVENT_BYTES", 1_024, 64 << 20);
  // Every event must fit in one message with room for its response's other fields.
  if (maxEventBytes > maxMessageBytes - 4_096) {
    throw new ConfigError(`BROKER_MAX_EVENT_BYTES must be at most BROKER_MAX_MESSAGE_BYTES - 4096 (${maxMessageBytes - 4_096}), got '${maxEventBytes}'`);
  }
  return checkExposure({
    host: text(merged, "BROKER_HOST", /^[A-Za-z0-9.:[\]-]+$/, "a host name or IP address"),
    grpcPort: integer(merged, "BROKER_GRPC_PORT", 0, 65_535),
    dataDir: text(merged, "BROKER_DATA_DIR", /^.+$/, "a directory"),
    mongodbUrl: url(merged, "BROKER_MONGODB_URL", ["mongodb", "mongodb+srv"]),
    mongodbDatabase: text(merged, "BROKER_MONGODB_DATABASE", /^[A-Za-z0-9_-]{1,63}$/, "a database name"),
    mongodbWriteConcern: writeConcern(merged),
    mongodbTimeoutMs: integer(merged, "BROKER_MONGODB_TIMEOUT_MS", 100, 600_000),
    natsUrl: url(merged, "BROKER_NATS_URL", ["nats", "tls", "ws", "wss"]),
    subjectPrefix: text(merged, "BROKER_SUBJECT_PREFIX", /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "NATS subject tokens"),
    retentionMs: retention(merged),
    logLevel: oneOf(merged, "BROKER_LOG_LEVEL", LOG_LEVELS),
    maxEventBytes,
    maxMessageBytes,
    maxPendingEvents: integer(merged, "BROKER_MAX_PENDING_EVENTS", 100, 10_000_000),
    shutdownGraceMs: integer(merged, "BROKER_SHUTDOWN_GRACE_MS", 0, 600_000),
    subscriberBuffer: integer(merged, "BROKER_SUBSCRIBER_BUFFER", 16, 10_000_000),
    whereScanRows: integer(merged, "BROKER_WHERE_SCAN_ROWS", 10, 1_000_000),
    groupBackend: groupBackend(merged),
    groupWindowEvents: integer(merged, "BROKER_GROUP_WINDOW_EVENTS", 1, 1_000_000),
    groupWindowBytes: integer(merged, "BROKER_GROUP_WINDOW_BYTES", 1_024, 2 ** 40),
    maxGroups: integer(merged, "BROKER_MAX_GROUPS", 1, 1_000_000),
    groupIdleMs: integer(merged, "BROKER_GROUP_IDLE_MS", 0, 86_400_000),
    metricsPort: merged["BROKER_METRICS_PORT"] === undefined || merged["BROKER_METRICS_PORT"] === "" ? undefined : integer(merged, "BROKER_METRICS_PORT", 0, 65_535),
    httpPort: merged["BROKER_HTTP_PORT"] === undefined || merged["BROKER_HTTP_PORT"] === "" ? undefined : integer(merged, "BROKER_HTTP_PORT", 0, 65_535),
    httpAllowedHosts: (merged["BROKER_HTTP_ALLOWED_HOSTS"] ?? "")
      .split(",")
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== ""),
    sqliteSync: oneOf(merged, "BROKER_SQLITE_SYNC", ["full", "normal"] as const),
    commitTrace: optional(merged, "BROKER_COMMIT_TRACE"),
    ...incompleteBounds(merged, maxMessageBytes),
    incompleteMessageTimeoutMs: integer(merged, "BROKER_INCOMPLETE_MESSAGE_TIMEOUT_MS", 100, 3_600_000),
    prefaceTimeoutMs: integer(merged, "BROKER_PREFACE_TIMEOUT_MS", 100, 600_000),
    tracing: tracing(merged),
    tls: tlsFiles(merged),
    authFile: optional(merged, "BROKER_AUTH_FILE"),
    insecure: oneOf(merged, "BROKER_INSECURE", ["true", "false"] as const) === "true",
    natsAuth: natsAuth(merged),
  });
}

const SAMPLERS = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"] as const;

function tracing(env: Env): TracingConfig | undefined {
  const set = (name: string) => env[name] !== undefined && env[name] !== "";
  const exporter = set("OTEL_TRACES_EXPORTER") ? oneOf(env, "OTEL_TRACES_EXPORTER", ["otlp", "none"] as const) : set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ? "otlp" : "none";
  if (exporter === "none" || env["OTEL_SDK_DISABLED"]?.toLowerCase() === "true") return undefined;
  url(env, "OTEL_EXPORTER_OTLP_ENDPOINT", ["http", "https"]);
  url(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ["http", "https"]);
  // why: only the OTLP/HTTP protobuf exporter ships with the broker.
  for (const name of ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]) if (set(name)) oneOf(env, name, ["http/protobuf"] as const);
  if (set("OTEL_TRACES_SAMPLER")) oneOf(env, "OTEL_TRACES_SAMPLER", SAMPLERS);
  const arg = env["OTEL_TRACES_SAMPLER_ARG"];
  if (arg !== undefined && arg !== "" && !(Number(arg) >= 0 && Number(arg) <= 1)) throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG must be a number 0-1, got '${arg}'`);
  return { serviceName: set("OTEL_SERVICE_NAME") ? (env["OTEL_SERVICE_NAME"] as string) : "qingyu-broker" };
}
