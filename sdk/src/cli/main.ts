#!/usr/bin/env node
// qingyu-events: the operator's terminal view of the broker, built on the SDK.
//   qingyu-events tail 'social.*' --from 1h
//   qingyu-events replay 'comment.*' --from 2026-11-01T00:00:00Z --to 1h
//   echo '{"type":"like.added",...}' | qingyu-events publish --json
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createBrokerClient, type BrokerClient } from "../client/client.js";
import { eventFromJson, eventToJson } from "../event/codec.js";
import { isBrokerError } from "../errors.js";
import { rawPayload } from "../event/evolution.js";
import type { Event } from "../gen/qingyu/events/v1/event_pb.js";
import type { JsonValue } from "@bufbuild/protobuf";
import { parseFrom, parsePatterns, parseTime, UsageError } from "./args.js";

const USAGE = `usage: qingyu-events <command> [options]

commands:
  tail [pattern...]     follow events live (--from now|beginning|15m|<RFC 3339>|<position>)
  replay [pattern...]   print stored events in order (--from, --to: durations ago or RFC 3339)
  count [pattern...]    count stored events (--from, --to)
  get <id>              print one event
  publish --json [event]  publish an event given as JSON, or one per line from stdin
  types                 list the event catalog

patterns: 'social.*' (a domain), 'social.like.*', 'like.added', 'comment.*', '*'
options:  --address host:port (default $BROKER_ADDRESS or 127.0.0.1:50051)
          --source s (repeatable filter; with publish: default source) --subject s --correlation-id c
          --json (print each event as one JSON line; publish: the input is JSON)`;

const OPTIONS = {
  address: { type: "string" },
  from: { type: "string" },
  to: { type: "string" },
  source: { type: "string", multiple: true },
  subject: { type: "string" },
  "correlation-id": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

function filterOf(patterns: string[], v: Values) {
  return {
    ...parsePatterns(patterns),
    ...(v.source ? { sources: v.source } : {}),
    ...(v.subject ? { subject: v.subject } : {}),
    ...(v["correlation-id"] ? { correlationId: v["correlation-id"] } : {}),
  };
}

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

async function publish(client: BrokerClient, asJson: boolean | undefined, inline: string | undefined): Promise<void> {
  if (!asJson) throw new UsageError("publish needs --json, with the event as an argument or one event per line on stdin");
  const send = async (text: string) => {
    const ack = await client.publish(eventFromJson(JSON.parse(text) as JsonValue));
    console.log(JSON.stringify(ack));
  };
  if (inline !== undefined) return send(inline);
  for await (const line of createInterface({ input: process.stdin })) if (line.trim() !== "") await send(line);
}

async function run(argv: string[], signal: AbortSignal): Promise<void> {
  const { values: v, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [command, ...rest] = positionals;
  if (v.help || command === undefined) {
    console.log(USAGE);
    return;
  }
  const address = v.address ?? process.env["BROKER_ADDRESS"] ?? "127.0.0.1:50051";
  const client = createBrokerClient({ address, ...(command === "publish" && v.source?.[0] ? { source: v.source[0] } : {}) });
  const asJson = v.json === true;
  try {
    switch (command) {
      case "tail": {
        const from = parseFrom(v.from);
        const onCaughtUp = () => process.stderr.write("-- live --\n");
        await client.tail(filterOf(rest, v), (e) => console.log(formatEvent(e, asJson)), { ...(from ? { from } : {}), signal, onCaughtUp });
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
      case "types":
        for (const t of await client.listEventTypes()) console.log(`${t.type.padEnd(32)} ${t.domain.padEnd(12)} ${t.messageName.padEnd(44)} ${t.subject}`);
        return;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } finally {
    client.close();
  }
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
    if (err instanceof UsageError || (err instanceof TypeError && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS"))) {
      process.stderr.write(`qingyu-events: ${err.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`qingyu-events: ${isBrokerError(err) ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
