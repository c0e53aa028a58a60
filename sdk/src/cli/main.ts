#!/usr/bin/env node
// qingyu-events: the operator's terminal view of the broker, built on the SDK.
//   qingyu-events tail 'social.*' --from 1h
//   qingyu-events replay 'comment.*' --from 2026-11-01T00:00:00Z --to 1h
//   qingyu-events count chapter.purchased --from 24h --where 'payload.amount.minor_units > 5000'
//   echo '{"type":"like.added",...}' | qingyu-events publish --json
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createBrokerClient, type BrokerClient, type BrokerClientOptions } from "../client/client.js";
import { eventFromJson, eventToJson } from "../event/codec.js";
import { Code, isBrokerError, type BrokerError } from "../errors.js";
import { rawPayload } from "../event/evolution.js";
import type { Event } from "../gen/qingyu/events/v1/event_pb.js";
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import { GetBrokerStatsResponseSchema } from "../gen/qingyu/broker/v1/broker_pb.js";
import { NotConfirmedError, runAdmin } from "./admin.js";
import { filterOf, OPTIONS, parseFrom, parseTime, UsageError, type Values } from "./args.js";
import { statsText } from "./stats.js";

const USAGE = `usage: qingyu-events <command> [options]

commands:
  tail [pattern...]     follow events live (--from now|beginning|15m|<RFC 3339>|<position>)
  replay [pattern...]   print stored events in order (--from, --to: durations ago or RFC 3339)
  count [pattern...]    count stored events (--from, --to)
  get <id>              print one event
  publish --json [event]  publish an event given as JSON, or one per line from stdin; stops at
                        the first bad line, naming it (exit 2) and how many were published
  types                 list the event catalog
  stats                 the broker's store (kind, size), open subscriptions, bus and start time
  token                 make a random access token and print it with its hash for the policy file
  groups ls|get <name>  consumer groups with their lag (backlog, in flight, dead letters, members)
  groups create <name> [pattern...]  --from now|beginning|<time> --ack-deadline 30s
                        --max-attempts n --ordering none|subject|correlation_id
  groups delete <name>  delete a group with its progress and dead letters (asks, or --yes)
  dlq ls|show <group> [position]  a group's dead letters, one with every attempt
  dlq redrive|purge <group> --all | --position p... | [pattern...]  deliver again, or delete
                        for good (asks, or --yes)

patterns: 'social.*' (a domain), 'social.like.*', 'like.added', 'comment.*', '*'
options:  --address host:port (default $BROKER_ADDRESS or 127.0.0.1:50051)
          --token t (default $BROKER_TOKEN): bearer token for a broker with an access policy
          --ca file (TLS: CA of the broker's certificate)  --cert file --key file (mutual TLS)
          --source s (repeatable filter; with publish: default source) --subject s --correlation-id c
          --where expr (a CEL expression over event and payload, e.g. 'event.metadata["tenant"] == "t1"')
          --json (print each event as one JSON line; publish: the input is JSON; groups, dlq:
          one JSON document per line)  --yes (confirm a delete, redrive or purge)`;

const RETRY_NOTICE_INTERVAL_MS = 30_000;

/**
 * One line per event: time, position, type, source, subject, payload. A payload of a type newer than
 * this CLI is shown as `rawPayload` (field number and base64), since JSON needs the schema.
 */
function formatEvent(e: Event, asJson: boolean): string {
  const json = eventToJson(e) as Record<string, JsonValue>;
  const raw = rawPayload(e);
  if (raw) json["rawPayload"] = { field: raw.fieldNumber, base64: Buffer.from(raw.bytes).toString("base64") };
  if (asJson) return JSON.stringify(json);
  const payloadKey = Object.keys(json).find((k) => !["id", "type", "source", "subject", "time", "recordedTime", "position", "correlationId", "causationId", "traceparent", "metadata", "dataVersion"].includes(k));
  const when = e.recordedTime ? timestampDate(e.recordedTime).toISOString() : "-";
  return `${when} ${e.position} ${e.type} ${e.source}${e.subject ? ` ${e.subject}` : ""} ${JSON.stringify(payloadKey ? json[payloadKey] : {})}`;
}

/** Bad input to `publish` (not JSON, not an event, refused as invalid): exit code 2, no usage text. */
class InputError extends Error {
  override name = "InputError";
}

/**
 * Publishes one event per line, in order, stopping at the first line that fails: later lines may
 * depend on it, and skipping would reorder them. The error names the line and how many events
 * were published before it, so the rest can be published from that line on.
 */
async function publish(client: BrokerClient, asJson: boolean | undefined, inline: string | undefined): Promise<void> {
  if (!asJson) throw new UsageError("publish needs --json, with the event as an argument or one event per line on stdin");
  let published = 0;
  const send = async (text: string, where: string) => {
    try {
      const ack = await client.publish(eventFromJson(JSON.parse(text) as JsonValue));
      console.log(JSON.stringify(ack));
      published++;
    } catch (err) {
      const bad = !isBrokerError(err) || err.code === Code.INVALID_ARGUMENT || err.code === Code.ALREADY_EXISTS;
      const what = isBrokerError(err) ? err.message : err instanceof Error ? err.message : String(err);
      const message = `${where}: ${what}; ${published} event(s) published before it, none after it`;
      throw bad ? new InputError(message) : new Error(message, { cause: err });
    }
  };
  if (inline !== undefined) return send(inline, "the event argument");
  let lineNo = 0;
  for await (const line of createInterface({ input: process.stdin })) {
    lineNo++;
    if (line.trim() !== "") await send(line, `line ${lineNo}`);
  }
}

/** Tells the operator once that the broker cannot be reached, then at most every 30 s. */
function reconnectNotice(address: string): (err: BrokerError | undefined, attempt: number) => void {
  let lastNoticeMs = -Infinity;
  return (err) => {
    const now = Date.now();
    if (now - lastNoticeMs < RETRY_NOTICE_INTERVAL_MS) return;
    const first = lastNoticeMs === -Infinity;
    lastNoticeMs = now;
    const why = err ? err.message : "the broker closed the stream";
    process.stderr.write(`qingyu-events: ${first ? "" : "still "}cannot reach the broker at ${address} (${why}): retrying${first ? "; Ctrl-C ends" : ""}\n`);
  };
}

async function run(argv: string[], signal: AbortSignal): Promise<void> {
  const { values: v, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [command, ...rest] = positionals;
  if (v.help || command === undefined) {
    console.log(USAGE);
    return;
  }
  if (command === "token") {
    const token = randomBytes(32).toString("base64url");
    console.log(`token: ${token}\nhash:  sha256:${createHash("sha256").update(token).digest("hex")}`);
    return;
  }
  const address = v.address ?? process.env["BROKER_ADDRESS"] ?? "127.0.0.1:50051";
  const client = createBrokerClient({ address, ...connection(v), ...(command === "publish" && v.source?.[0] ? { source: v.source[0] } : {}) });
  const asJson = v.json === true;
  try {
    switch (command) {
      case "tail": {
        const from = parseFrom(v.from);
        const onCaughtUp = () => process.stderr.write("-- live --\n");
        const onReconnect = reconnectNotice(address);
        await client.tail(filterOf(rest, v), (e) => console.log(formatEvent(e, asJson)), { ...(from ? { from } : {}), signal, onCaughtUp, onReconnect });
        return;
      }
      case "replay": {
        const query = { ...filterOf(rest, v), ...timeRange(v) };
        for await (const e of client.replay(query, { signal })) console.log(formatEvent(e, asJson));
        return;
      }
      case "count":
        console.log(await client.countEvents({ ...filterOf(rest, v), ...timeRange(v) }));
        return;
      case "get":
        if (!rest[0]) throw new UsageError("get needs an event id");
        console.log(formatEvent(await client.getEvent(rest[0]), true));
        return;
      case "publish":
        // Awaited here, not returned: the finally below must not close the client under it.
        await publish(client, v.json, rest[0]);
        return;
      case "types": {
        const row = (type: string, domain: string, message: string, subject: string) => console.log(`${type.padEnd(32)} ${domain.padEnd(12)} ${message.padEnd(44)} ${subject}`);
        row("TYPE", "DOMAIN", "MESSAGE", "NATS SUBJECT");
        for (const t of await client.listEventTypes()) row(t.type, t.domain, t.messageName, t.subject);
        return;
      }
      case "stats": {
        const st = await client.brokerStats();
        if (asJson) console.log(JSON.stringify(toJson(GetBrokerStatsResponseSchema, st)));
        else console.log(statsText(st));
        return;
      }
      default:
        if (await runAdmin(command, client, rest, v)) return;
        throw new UsageError(`unknown command '${command}'`);
    }
  } finally {
    client.close();
  }
}

/** Token and TLS from flags, files read here (the SDK takes PEM contents). */
function connection(v: Values): Pick<BrokerClientOptions, "credentials" | "tls"> {
  const token = v.token ?? process.env["BROKER_TOKEN"];
  if ((v.cert === undefined) !== (v.key === undefined)) throw new UsageError("--cert and --key must be given together");
  const file = (flag: string, path: string | undefined) => {
    if (path === undefined) return {};
    try {
      return { [flag]: readFileSync(path) };
    } catch (err) {
      throw new UsageError(`--${flag} '${path}' cannot be read: ${(err as Error).message}`);
    }
  };
  const tls = v.ca !== undefined || v.cert !== undefined ? { ...file("ca", v.ca), ...file("cert", v.cert), ...file("key", v.key) } : undefined;
  return { ...(token ? { credentials: token } : {}), ...(tls ? { tls } : {}) };
}

function timeRange(v: Values) {
  const from = parseTime("--from", v.from);
  const to = parseTime("--to", v.to);
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

const controller = new AbortController();
process.on("SIGINT", () => controller.abort());
process.on("SIGTERM", () => controller.abort());
run(process.argv.slice(2), controller.signal).then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof InputError || err instanceof NotConfirmedError) {
      process.stderr.write(`qingyu-events: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof UsageError || (err instanceof TypeError && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS"))) {
      process.stderr.write(`qingyu-events: ${err.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`qingyu-events: ${isBrokerError(err) ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
