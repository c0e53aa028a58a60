import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../server/src/config.js";
import { parseDurationMs } from "../../sdk/src/index.js";

describe("loadConfig()", () => {
  it("has defaults for everything", () => {
    const c = loadConfig({});
    assert.equal(c.host, "127.0.0.1");
    assert.equal(c.grpcPort, 50051);
    assert.equal(c.dataDir, "./data");
    assert.equal(c.mongodbUrl, undefined);
    assert.equal(c.natsUrl, undefined);
    assert.equal(c.retentionMs, 30 * 86_400_000);
    assert.equal(c.maxEventBytes, 1 << 20);
    assert.equal(c.logLevel, "info");
    assert.equal(c.sqliteSync, "full");
  });

  it("reads the environment and lets flags override it", () => {
    const c = loadConfig({ BROKER_GRPC_PORT: "0", BROKER_RETENTION: "12h", BROKER_NATS_URL: "nats://127.0.0.1:4222" }, ["--grpc-port", "6000", "--data-dir=/tmp/x"]);
    assert.equal(c.grpcPort, 6000);
    assert.equal(c.dataDir, "/tmp/x");
    assert.equal(c.retentionMs, 12 * 3_600_000);
    assert.equal(c.natsUrl, "nats://127.0.0.1:4222");
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ BROKER_GRPC_PORT: "abc" }, /BROKER_GRPC_PORT must be an integer 0-65535, got 'abc'/],
    [{ BROKER_GRPC_PORT: "70000" }, /BROKER_GRPC_PORT/],
    [{ BROKER_RETENTION: "forever" }, /BROKER_RETENTION must be a duration/],
    [{ BROKER_RETENTION: "10s" }, /at least 1m/],
    [{ BROKER_LOG_LEVEL: "loud" }, /BROKER_LOG_LEVEL must be one of/],
    [{ BROKER_MONGODB_URL: "postgres://x" }, /BROKER_MONGODB_URL must be a mongodb or mongodb\+srv URL/],
    [{ BROKER_NATS_URL: "127.0.0.1:4222" }, /BROKER_NATS_URL/],
    [{ BROKER_SUBJECT_PREFIX: "events.>" }, /BROKER_SUBJECT_PREFIX/],
    [{ BROKER_MAX_EVENT_BYTES: "-1" }, /BROKER_MAX_EVENT_BYTES/],
    [{ BROKER_SQLITE_SYNC: "off" }, /BROKER_SQLITE_SYNC/],
    [{ BROKER_MONGODB_WRITE_CONCERN: "all" }, /BROKER_MONGODB_WRITE_CONCERN/],
    [{ BROKER_MONGODB_TIMEOUT_MS: "0" }, /BROKER_MONGODB_TIMEOUT_MS must be an integer 100-600000/],
  ];
  for (const [env, message] of bad) {
    it(`refuses ${JSON.stringify(env)}`, () => {
      assert.throws(() => loadConfig(env), (err: unknown) => err instanceof ConfigError && message.test(err.message));
    });
  }

  it("puts consumer groups on JetStream when NATS is configured, unless told otherwise", () => {
    assert.equal(loadConfig({}).groupBackend, "store");
    assert.equal(loadConfig({ BROKER_NATS_URL: "nats://127.0.0.1:4222" }).groupBackend, "jetstream");
    assert.equal(loadConfig({ BROKER_NATS_URL: "nats://127.0.0.1:4222", BROKER_GROUP_BACKEND: "store" }).groupBackend, "store");
    assert.throws(() => loadConfig({ BROKER_GROUP_BACKEND: "jetstream" }), /needs BROKER_NATS_URL/);
    assert.throws(() => loadConfig({ BROKER_GROUP_BACKEND: "redis" }), ConfigError);
  });

  it("raises the unset total of incomplete-message bytes to a larger per-connection bound", () => {
    const big = loadConfig({ BROKER_MAX_MESSAGE_BYTES: String(256 << 20) });
    assert.equal(big.maxIncompleteBytesPerConnection, 512 << 20);
    assert.equal(big.maxIncompleteBytes, 512 << 20);
    assert.equal(loadConfig({}).maxIncompleteBytes, 128 << 20);
    assert.throws(() => loadConfig({ BROKER_MAX_MESSAGE_BYTES: String(256 << 20), BROKER_MAX_INCOMPLETE_BYTES: String(128 << 20) }), /BROKER_MAX_INCOMPLETE_BYTES must be at least/);
  });

  it("refuses unknown arguments and flags without a value", () => {
    assert.throws(() => loadConfig({}, ["serve"]), ConfigError);
    assert.throws(() => loadConfig({}, ["--grpc-port"]), ConfigError);
  });

  it("does not mutate its input", () => {
    const env = Object.freeze({ BROKER_GRPC_PORT: "1" });
    loadConfig(env, ["--grpc-port", "2"]);
    assert.deepEqual(env, { BROKER_GRPC_PORT: "1" });
  });
});

describe("parseDurationMs()", () => {
  it("parses units and refuses the rest", () => {
    assert.equal(parseDurationMs("500ms"), 500);
    assert.equal(parseDurationMs("90s"), 90_000);
    assert.equal(parseDurationMs("1.5h"), 5_400_000);
    assert.equal(parseDurationMs("30d"), 2_592_000_000);
    assert.equal(parseDurationMs("2w"), 1_209_600_000);
    assert.equal(parseDurationMs("10"), undefined);
    assert.equal(parseDurationMs("1y"), undefined);
  });

  describe("tracing (OTEL_*)", () => {
    it("is off by default, and with OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none", () => {
      assert.equal(loadConfig({}).tracing, undefined);
      assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }).tracing, undefined);
      assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" }).tracing, undefined);
    });

    it("is on with an OTLP endpoint or OTEL_TRACES_EXPORTER=otlp, named by OTEL_SERVICE_NAME", () => {
      assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }).tracing, { serviceName: "qingyu-broker" });
      assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://c/v1/traces", OTEL_SERVICE_NAME: "royalty" }).tracing, { serviceName: "royalty" });
      assert.deepEqual(loadConfig({ OTEL_TRACES_EXPORTER: "otlp" }).tracing, { serviceName: "qingyu-broker" });
    });

    const badTracing: [Record<string, string>, RegExp][] = [
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: "grpc://c:4317" }, /OTEL_EXPORTER_OTLP_ENDPOINT must be a http or https URL/],
      [{ OTEL_TRACES_EXPORTER: "zipkin" }, /OTEL_TRACES_EXPORTER must be one of otlp, none, got 'zipkin'/],
      [{ OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, /OTEL_EXPORTER_OTLP_PROTOCOL must be one of http\/protobuf, got 'grpc'/],
      [{ OTEL_TRACES_EXPORTER: "otlp", OTEL_TRACES_SAMPLER: "sometimes" }, /OTEL_TRACES_SAMPLER must be one of/],
      [{ OTEL_TRACES_EXPORTER: "otlp", OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" }, /OTEL_TRACES_SAMPLER_ARG must be a number 0-1, got '1.5'/],
    ];
    for (const [env, message] of badTracing) {
      it(`refuses ${JSON.stringify(env)}`, () => assert.throws(() => loadConfig(env), (err: unknown) => err instanceof ConfigError && message.test(err.message)));
    }
  });
});
