import { eventDomains, type EventDomain } from "../catalog/catalog.js";
import type { SubscriptionFilter } from "../client/filters.js";
import type { SubscribeFrom } from "../client/subscription.js";
import type { parseArgs } from "node:util";
import { parseDurationMs } from "../duration.js";

/** Thrown for a command line the CLI cannot understand; the message says what is wrong. */
export class UsageError extends Error {
  override name = "UsageError";
}

const POSITION = /^[0-9a-f]{16}$/;

/**
 * A pattern over `<domain>.<type>`, as NATS subjects read: `social.*` (a domain), `social.like.*`
 * (types within a domain), `like.added` or `comment.*` (types), `*` or `>` (everything).
 */
export function parsePattern(pattern: string): SubscriptionFilter {
  const p = pattern.trim();
  if (p === "" || p === "*" || p === ">") return {};
  const [first = "", ...rest] = p.split(".");
  if ((eventDomains() as readonly string[]).includes(first)) {
    const tail = rest.join(".");
    const domains = [first as EventDomain];
    if (tail === "" || tail === "*" || tail === ">") return { domains };
    return { domains, types: [tail.replace(/>$/, "*") as `${string}*`] };
  }
  return { types: [p.replace(/>$/, "*") as `${string}*`] };
}

/** Merges several patterns: types and domains OR together. */
export function parsePatterns(patterns: readonly string[]): SubscriptionFilter {
  const filters = patterns.map(parsePattern);
  if (filters.length === 0 || filters.some((f) => !f.types && !f.domains)) return {};
  // A domain-only pattern and a type pattern cannot be ORed as two filter fields (fields AND), so
  // domain-only patterns become type globs of that domain.
  const types = filters.flatMap((f) => f.types ?? []);
  const domainsOnly = filters.filter((f) => f.domains && !f.types).flatMap((f) => f.domains ?? []);
  if (types.length === 0) return { domains: domainsOnly };
  const domains = filters.every((f) => f.domains) ? [...new Set(filters.flatMap((f) => f.domains ?? []))] : undefined;
  if (domainsOnly.length > 0) throw new UsageError("mix either domains ('social.*') or types ('like.added') in one command, not both");
  return domains ? { types, domains } : { types };
}

/** `--from`: now, beginning, a duration ago (`15m`, `1h`, `2d`), an RFC 3339 time, or a position. */
export function parseFrom(text: string | undefined, now = Date.now()): SubscribeFrom | undefined {
  if (text === undefined) return undefined;
  if (text === "now" || text === "beginning") return text;
  if (POSITION.test(text)) return { afterPosition: text };
  const ago = parseDurationMs(text);
  if (ago !== undefined) return new Date(now - ago);
  const date = new Date(text);
  if (!Number.isNaN(date.getTime()) && /^\d{4}-\d{2}-\d{2}/.test(text)) return date;
  throw new UsageError(`--from must be now, beginning, a duration such as 1h, an RFC 3339 time or a position, got '${text}'`);
}

/** `--to` and `--from` of replay: a duration ago or an RFC 3339 time. */
export function parseTime(flag: string, text: string | undefined, now = Date.now()): Date | undefined {
  if (text === undefined) return undefined;
  const from = parseFrom(text, now);
  if (from instanceof Date) return from;
  throw new UsageError(`${flag} must be a duration such as 1h or an RFC 3339 time, got '${text}'`);
}

/** Every option of every command (parseArgs is strict: an unknown one is a usage error). */
export const OPTIONS = {
  address: { type: "string" },
  token: { type: "string" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  from: { type: "string" },
  to: { type: "string" },
  source: { type: "string", multiple: true },
  subject: { type: "string" },
  "correlation-id": { type: "string" },
  where: { type: "string" },
  json: { type: "boolean" },
  yes: { type: "boolean", short: "y" },
  all: { type: "boolean" },
  position: { type: "string", multiple: true },
  "ack-deadline": { type: "string" },
  "max-attempts": { type: "string" },
  ordering: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

/** The event filter of a command: its patterns, and --source, --subject, --correlation-id, --where. */
export function filterOf(patterns: string[], v: Values) {
  return {
    ...parsePatterns(patterns),
    ...(v.source ? { sources: v.source } : {}),
    ...(v.subject ? { subject: v.subject } : {}),
    ...(v["correlation-id"] ? { correlationId: v["correlation-id"] } : {}),
    ...(v.where ? { where: v.where } : {}),
  };
}
