// https://github.com/qingyu/event-broker/issues/12 (3) and /issues/10: start-up errors are one line
// naming the setting with exit code 2, the port is bound before anything is opened, and a start-up
// that fails partway closes what it opened. (2): signals sent to `npm start` reach the broker.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startBroker } from "../../server/src/broker.js";
import { ConfigError, loadConfig } from "../../server/src/config.js";
import { createLogger } from "../../server/src/logger.js";
import { runBrokerExpectingFailure } from "../helpers/broker-process.js";
import { LogSink } from "../helpers/broker.js";
import { freePort, startNatsServer } from "../helpers/nats-server.js";

const ROOT = new URL("../..", import.meta.url).pathname;
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "broker-startup-"));
  dirs.push(d);
  return d;
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });
}

/** Open handles by kind (sockets, servers, worker threads), leaving out timers and immediates. */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) if (kind !== "Timeout" && kind !== "Immediate") counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** The last line of stderr, checking that it is the only one. */
function oneLine(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `expected one line on stderr, got: ${stderr}`);
  return lines[0] ?? "";
}

describe("broker start-up errors", () => {
  it("names BROKER_GRPC_PORT when the port is in use, before opening the store", async () => {
    const taken = createServer().listen(0, "127.0.0.1");
    await once(taken, "listening");
    const port = (taken.address() as { port: number }).port;
    const dataDir = join(tempDir(), "never-created");
    try {
      const { code, stderr } = await runBrokerExpectingFailure({ BROKER_GRPC_PORT: String(port), BROKER_DATA_DIR: dataDir });
      assert.equal(code, 2);
      assert.match(oneLine(stderr), new RegExp(`^broker: BROKER_GRPC_PORT: cannot listen on 127\\.0\\.0\\.1:${port} \\(.*EADDRINUSE.*\\)`));
      assert.equal(existsSync(dataDir), false, "the store was opened before the port was bound");
    } finally {
      taken.close();
    }
  });

  it("names BROKER_DATA_DIR when the data directory cannot be created", async () => {
    const file = join(tempDir(), "a-file");
    writeFileSync(file, "");
    const { code, stderr } = await runBrokerExpectingFailure({ BROKER_GRPC_PORT: "0", BROKER_DATA_DIR: join(file, "data") });
    assert.equal(code, 2);
    assert.match(oneLine(stderr), /^broker: BROKER_DATA_DIR: cannot use '.*a-file\/data' as the data directory \(ENOTDIR\)/);
  });

  it("refuses an unknown flag, suggesting the setting it resembles", async () => {
    const { code, stderr, stdout } = await runBrokerExpectingFailure({ BROKER_GRPC_PORT: "0", BROKER_DATA_DIR: tempDir() }, ["--grpc-prot", "50077"]);
    assert.equal(code, 2);
    assert.match(oneLine(stderr), /^broker: unknown flag '--grpc-prot': did you mean '--grpc-port'\?/);
    assert.equal(stdout, "");
    assert.throws(() => loadConfig({}, ["--colour", "red"]), ConfigError);
    assert.throws(() => loadConfig({}, ["--grpc-prot=1"]), /unknown flag '--grpc-prot'/);
  });

  it("prints every setting with its default for --help, and exits 0", async () => {
    const { code, stdout, stderr } = await runBrokerExpectingFailure({}, ["--help"]);
    assert.equal(code, 0);
    assert.equal(stderr, "");
    assert.match(stdout, /--grpc-port\s+BROKER_GRPC_PORT: .*\(default 50051\)/);
    assert.match(stdout, /--data-dir\s+BROKER_DATA_DIR: .*\(default \.\/data\)/);
    assert.match(stdout, /--nats-url\s+BROKER_NATS_URL: /);
  });

  it("closes the store and NATS when a later step fails (JetStream groups on a NATS without JetStream)", async () => {
    const monitorPort = await freePort();
    await using nats = await startNatsServer({ jetstream: false, monitorPort });
    const logs = new LogSink();
    const config = loadConfig({ BROKER_GRPC_PORT: "0", BROKER_DATA_DIR: tempDir(), BROKER_NATS_URL: nats.url, BROKER_GROUP_BACKEND: "jetstream" });
    const before = handles();
    await assert.rejects(startBroker(config, createLogger("info", logs)), (err: unknown) => err instanceof ConfigError && /^BROKER_GROUP_BACKEND: /.test(err.message));
    // NATS: no connection of ours is left on the server.
    const connz = (await (await fetch(`http://127.0.0.1:${monitorPort}/connz`)).json()) as { num_connections: number };
    assert.equal(connz.num_connections, 0);
    assert.equal(logs.lines.some((l) => l["msg"] === "broker started"), false);
    // The gRPC server, the store's worker threads and every socket are gone: only what existed
    // before remains (timers are left out: unref'd ones of libraries end by themselves).
    const now = handles();
    const added = Object.keys(now).filter((kind) => (now[kind] ?? 0) > (before[kind] ?? 0));
    assert.deepEqual(added, [], `open after the failed start: ${JSON.stringify(now)}, before: ${JSON.stringify(before)}`);
  });
});

describe("npm start", () => {
  it("stops the broker when the npm process gets SIGTERM", async () => {
    const dataDir = tempDir();
    const npm = spawn("npm", ["start", "--", "--grpc-port", "0", "--data-dir", dataDir], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const exited = once(npm, "exit");
    const lines: Record<string, unknown>[] = [];
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: npm.stdout }).on("line", (line) => {
        if (!line.startsWith("{")) return;
        const entry = JSON.parse(line) as Record<string, unknown>;
        lines.push(entry);
        if (entry["msg"] === "broker started") resolve(entry["port"] as number);
      });
      void exited.then(() => reject(new Error("npm start exited before the broker started")));
    });
    const started = lines.find((l) => l["msg"] === "broker started");
    assert.equal(started?.["dataDir"], dataDir, "broker started logs the data directory");
    assert.equal(await portAnswers(port), true);
    npm.kill("SIGTERM");
    await exited;
    // The broker itself got the signal: it drained, logged its stop, and released the port.
    const stopped = await new Promise<boolean>((resolve) => {
      if (lines.some((l) => l["msg"] === "broker stopped")) return resolve(true);
      npm.stdout.on("close", () => resolve(lines.some((l) => l["msg"] === "broker stopped")));
    });
    assert.equal(stopped, true, `the broker did not log its stop: ${JSON.stringify(lines.map((l) => l["msg"]))}`);
    assert.equal(await portAnswers(port), false, "the broker still holds its port after npm start was stopped");
  });
});
