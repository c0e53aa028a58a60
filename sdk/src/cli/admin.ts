// qingyu-events groups ls|get|create|delete and dlq ls|show|redrive|purge: consumer group and dead
// letter administration for operators, through the SDK's GroupsClient (the broker checks every
// rule). Destructive commands ask first on a terminal, and need --yes anywhere else.
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import { durationMs, timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { createInterface } from "node:readline/promises";
import type { BrokerClient } from "../client/client.js";
import type { DeadLetterSelection, GroupDefinition } from "../client/groups.js";
import { BrokerError, Code, isBrokerError } from "../errors.js";
import { ConsumerGroupSchema, DeadLetterSchema, GroupStatsSchema, OrderingMode, type ConsumerGroup, type DeadLetter, type GroupStats } from "../gen/qingyu/broker/v1/groups_pb.js";
import { filterOf, parseFrom, UsageError, type Values } from "./args.js";
import { parseDurationMs } from "../duration.js";

/** A destructive command the operator did not confirm: nothing was done (exit 2, no usage text). */
export class NotConfirmedError extends Error {
  override name = "NotConfirmedError";
}

/** What a destructive command asks; resolves true when the operator agrees. */
export type Confirm = (question: string) => Promise<boolean>;

/** Asks on the terminal; refuses (a usage error) when stdin is no terminal, where only --yes agrees. */
export const askOnTerminal: Confirm = async (question) => {
  if (!process.stdin.isTTY) throw new NotConfirmedError(`${question.replace(/\?$/, "")}: add --yes to confirm (stdin is not a terminal to ask on); nothing done`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
};

const time = (t: Timestamp | undefined): string => (t ? timestampDate(t).toISOString() : "-");
const groupJson = (g: ConsumerGroup | undefined) => (g ? toJson(ConsumerGroupSchema, g) : null);
const statsJson = (s: GroupStats | undefined) => (s ? toJson(GroupStatsSchema, s) : null);

function filterText(g: ConsumerGroup): string {
  const f = g.filter;
  const parts = [f?.types.length ? `types=${f.types.join(",")}` : "", f?.domains.length ? `domains=${f.domains.join(",")}` : "", f?.sources.length ? `sources=${f.sources.join(",")}` : "", f?.subject ? `subject=${f.subject}` : "", f?.where ? `where=${f.where}` : ""];
  return parts.filter(Boolean).join(" ") || "*";
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")).join("\n");
}

const ORDERINGS: Readonly<Record<string, GroupDefinition["ordering"]>> = { none: "none", subject: "subject", correlation_id: "correlation_id" };

/** A group definition from `groups create <name> [pattern...]` and its options. */
function definitionOf(name: string, patterns: string[], v: Values): GroupDefinition {
  const from = parseFrom(v.from ?? "now");
  if (from !== "now" && from !== "beginning" && !(from instanceof Date)) throw new UsageError("--from of a group must be now, beginning, a duration ago or an RFC 3339 time");
  const ackDeadlineMs = v["ack-deadline"] === undefined ? undefined : parseDurationMs(v["ack-deadline"]);
  if (v["ack-deadline"] !== undefined && ackDeadlineMs === undefined) throw new UsageError(`--ack-deadline must be a duration such as 30s, got '${v["ack-deadline"]}'`);
  const maxAttempts = v["max-attempts"] === undefined ? undefined : Number(v["max-attempts"]);
  if (maxAttempts !== undefined && !Number.isInteger(maxAttempts)) throw new UsageError(`--max-attempts must be an integer, got '${v["max-attempts"]}'`);
  const ordering = v.ordering === undefined ? undefined : ORDERINGS[v.ordering];
  if (v.ordering !== undefined && ordering === undefined) throw new UsageError(`--ordering must be none, subject or correlation_id, got '${v.ordering}'`);
  return {
    name,
    filter: filterOf(patterns, v),
    start: from,
    ...(ackDeadlineMs === undefined ? {} : { ackDeadlineMs }),
    ...(maxAttempts === undefined ? {} : { retry: { maxAttempts } }),
    ...(ordering === undefined ? {} : { ordering }),
  };
}

function describeGroup(group: ConsumerGroup, stats: GroupStats | undefined): string {
  const lines = [
    `name:          ${group.name}`,
    `filter:        ${filterText(group)}`,
    `ordering:      ${OrderingMode[group.ordering]?.toLowerCase() ?? group.ordering}`,
    `ack deadline:  ${group.ackDeadline ? `${durationMs(group.ackDeadline)} ms` : "-"}`,
    `max attempts:  ${group.retry?.maxAttempts ?? "-"}`,
    `created:       ${time(group.createTime)}`,
  ];
  if (stats) {
    lines.push(`backlog:       ${stats.backlog}`, `in flight:     ${stats.inFlight}`, `retrying:      ${stats.retrying}`, `dead letters:  ${stats.deadLetters}`);
    lines.push(`oldest unacked age: ${stats.oldestUnackedAge ? `${durationMs(stats.oldestUnackedAge)} ms` : "-"}`, `members:       ${stats.members.length}`);
    for (const m of stats.members) lines.push(`  ${m.memberId} ${m.peer} in flight ${m.inFlight}/${m.maxInFlight} acked ${m.acked} nacked ${m.nacked}`);
  }
  return lines.join("\n");
}

async function groups(client: BrokerClient, args: string[], v: Values, confirm: Confirm): Promise<void> {
  const [sub, name, ...patterns] = args;
  const asJson = v.json === true;
  const needName = (): string => {
    if (!name) throw new UsageError(`groups ${sub ?? ""} needs a group name`);
    return name;
  };
  switch (sub) {
    case "ls": {
      const rows: [ConsumerGroup, GroupStats | undefined][] = [];
      for (const g of await client.groups.list()) {
        // A group deleted between the list and its stats is shown without them.
        const stats = await client.groups.get(g.name).then(
          (r) => r.stats,
          (err: unknown) => {
            if (isBrokerError(err) && err.code === Code.NOT_FOUND) return undefined;
            throw err;
          },
        );
        rows.push([g, stats]);
      }
      if (asJson) {
        for (const [g, s] of rows) console.log(JSON.stringify({ group: groupJson(g), stats: statsJson(s) }));
        return;
      }
      const head = ["NAME", "BACKLOG", "IN_FLIGHT", "DEAD_LETTERS", "MEMBERS", "FILTER"];
      console.log(table([head, ...rows.map(([g, s]) => [g.name, String(s?.backlog ?? "-"), String(s?.inFlight ?? "-"), String(s?.deadLetters ?? "-"), String(s?.members.length ?? "-"), filterText(g)])]));
      return;
    }
    case "get": {
      const { group, stats } = await client.groups.get(needName());
      console.log(asJson ? JSON.stringify({ group: groupJson(group), stats: statsJson(stats) }) : describeGroup(group, stats));
      return;
    }
    case "create": {
      const group = await client.groups.create(definitionOf(needName(), patterns, v));
      console.log(asJson ? JSON.stringify(groupJson(group)) : `created consumer group '${group.name}' (${filterText(group)})`);
      return;
    }
    case "delete": {
      const group = needName();
      if (!v.yes && !(await confirm(`delete consumer group '${group}', its progress and its dead letters?`))) throw new NotConfirmedError("not confirmed: nothing deleted");
      await client.groups.delete(group);
      console.log(asJson ? JSON.stringify({ deleted: group }) : `deleted consumer group '${group}'`);
      return;
    }
    default:
      throw new UsageError(`groups needs ls, get, create or delete, got '${sub ?? ""}'`);
  }
}

/** Which dead letters redrive or purge act on: --all, --position (repeatable) or patterns; exactly one. */
function selectionOf(patterns: string[], v: Values): { select: DeadLetterSelection; what: string } {
  const filtered = patterns.length > 0 || v.source !== undefined || v.subject !== undefined || v["correlation-id"] !== undefined || v.where !== undefined;
  const kinds = [v.all === true, v.position !== undefined, filtered].filter(Boolean).length;
  if (kinds !== 1) throw new UsageError("say which dead letters: --all, --position <p> (repeatable), or patterns and filters");
  if (v.all) return { select: "all", what: "every dead letter" };
  if (v.position) return { select: { positions: v.position }, what: `${v.position.length} dead letter(s) by position` };
  return { select: { filter: filterOf(patterns, v) }, what: "the dead letters matching the filter" };
}

function deadLetterRow(d: DeadLetter): string[] {
  const last = d.attempts.at(-1);
  return [d.position, d.event?.type ?? "-", String(d.attempts.length), time(d.deadTime), d.reason || last?.error || "-"];
}

function describeDeadLetter(d: DeadLetter): string {
  const lines = [`position:  ${d.position}`, `event:     ${d.event?.id ?? "-"} ${d.event?.type ?? ""}`, `dead since: ${time(d.deadTime)}`, `reason:    ${d.reason || "-"}`, "attempts:"];
  for (const a of d.attempts) lines.push(`  #${a.attempt} ${time(a.time)} ${a.memberId || "-"} ${a.error || "-"}`);
  return lines.join("\n");
}

async function dlq(client: BrokerClient, args: string[], v: Values, confirm: Confirm): Promise<void> {
  const [sub, group, ...rest] = args;
  if (!group) throw new UsageError(`dlq ${sub ?? ""} needs a group name`);
  const asJson = v.json === true;
  const json = (d: DeadLetter) => JSON.stringify(toJson(DeadLetterSchema, d) as JsonValue);
  switch (sub) {
    case "ls": {
      const rows: string[][] = [["POSITION", "TYPE", "ATTEMPTS", "DEAD_SINCE", "REASON"]];
      for await (const d of client.groups.deadLetters(group)) {
        if (asJson) console.log(json(d));
        else rows.push(deadLetterRow(d));
      }
      if (!asJson) console.log(table(rows));
      return;
    }
    case "show": {
      const position = rest[0];
      if (!position) throw new UsageError("dlq show needs a group and a dead letter's position");
      for await (const d of client.groups.deadLetters(group)) {
        if (d.position !== position) continue;
        console.log(asJson ? json(d) : describeDeadLetter(d));
        return;
      }
      // As the broker says of an unknown group or event: a failed call (exit 1), not a usage error.
      throw new BrokerError(Code.NOT_FOUND, `consumer group '${group}' has no dead letter at position '${position}'`);
    }
    case "redrive":
    case "purge": {
      const { select, what } = selectionOf(rest, v);
      const verb = sub === "redrive" ? "redrive (deliver again, with fresh attempts)" : "purge (delete for good)";
      if (!v.yes && !(await confirm(`${verb} ${what} of consumer group '${group}'?`))) throw new NotConfirmedError("not confirmed: nothing done");
      const count = sub === "redrive" ? await client.groups.redrive(group, select) : await client.groups.purge(group, select);
      console.log(asJson ? JSON.stringify({ group, [sub === "redrive" ? "redriven" : "purged"]: count }) : `${sub === "redrive" ? "redrove" : "purged"} ${count} dead letter(s) of '${group}'`);
      return;
    }
    default:
      throw new UsageError(`dlq needs ls, show, redrive or purge, got '${sub ?? ""}'`);
  }
}

/** Runs `groups …` or `dlq …`; false when `command` is neither. */
export async function runAdmin(command: string, client: BrokerClient, args: string[], v: Values, confirm: Confirm = askOnTerminal): Promise<boolean> {
  if (command === "groups") await groups(client, args, v, confirm);
  else if (command === "dlq") await dlq(client, args, v, confirm);
  else return false;
  return true;
}
