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
  /**
   * Where consumer groups keep their progress and get redelivery: "jetstream" (durable consumers,
   * shared by every replica; needs BROKER_NATS_URL) or "store" (inside this broker).
   */
  groupBackend: "jetstream" | "store";
  /** Port of the Prometheus /metrics endpoint; undefined turns it off, 0 picks a free port. */
  metricsPort: number | undefined;
  /** SQLite synchronous mode: "full" survives power loss, "normal" survives a process crash. */
  sqliteSync: "full" | "normal";
  /** Bytes of partly received request messages one connection may hold (default 2 × maxMessageBytes). */
  maxIncompleteBytesPerConnection: number;
  /** Bytes of partly received request messages the broker may hold, all connections together. */
  maxIncompleteBytes: number;
  /** How long a request message may stay incomplete with no byte arriving. */
  incompleteMessageTimeoutMs: number;
  /** How long a new connection may take to send the HTTP/2 preface. */
  prefaceTimeoutMs: number;
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
  BROKER_SQLITE_SYNC: "full",
  BROKER_MAX_INCOMPLETE_BYTES: String(128 << 20),
  BROKER_INCOMPLETE_MESSAGE_TIMEOUT_MS: "30000",
  BROKER_PREFACE_TIMEOUT_MS: "10000",
};

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Command-line flags override the environment: `--grpc-port 0` sets BROKER_GRPC_PORT, and so on
 * for every variable (`--data-dir`, `--nats-url`, `--retention`...).
 */
export function flagsToEnv(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const m = /^--([a-z][a-z-]*)(?:=(.*))?$/.exec(arg);
    if (!m) throw new ConfigError(`unexpected argument '${arg}'`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new ConfigError(`flag '${arg}' needs a value`);
    out[`BROKER_${(m[1] ?? "").replace(/-/g, "_").toUpperCase()}`] = value;
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
  const total = integer(env, "BROKER_MAX_INCOMPLETE_BYTES", 0, 2 ** 40);
  if (total < per) throw new ConfigError(`BROKER_MAX_INCOMPLETE_BYTES must be at least the per-connection bound (${per}), got '${total}'`);
  return { maxIncompleteBytesPerConnection: per, maxIncompleteBytes: total };
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
  return {
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
    groupBackend: groupBackend(merged),
    metricsPort: merged["BROKER_METRICS_PORT"] === undefined || merged["BROKER_METRICS_PORT"] === "" ? undefined : integer(merged, "BROKER_METRICS_PORT", 0, 65_535),
    sqliteSync: oneOf(merged, "BROKER_SQLITE_SYNC", ["full", "normal"] as const),
    ...incompleteBounds(merged, maxMessageBytes),
    incompleteMessageTimeoutMs: integer(merged, "BROKER_INCOMPLETE_MESSAGE_TIMEOUT_MS", 100, 3_600_000),
    prefaceTimeoutMs: integer(merged, "BROKER_PREFACE_TIMEOUT_MS", 100, 600_000),
  };
}
