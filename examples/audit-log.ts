// Audit log: every administrative, moderation and security event appended to an NDJSON file.
// Port of the seed's AuditLogHandler (which only logged, and skipped content.*). Run:
//   node --import tsx examples/audit-log.ts audit.ndjson
import { appendFile, readFile } from "node:fs/promises";
import { createBrokerClient, eventToJson, type BrokerClient, type Consumer, type Event } from "../sdk/src/index.js";

export const GROUP = "audit-log";
export const AUDITED = ["config.changed", "permission.changed", "role.changed", "review.*", "content.*", "security.*"] as const;

/** Starts appending audited events to `file`, one JSON object per line, each event once. */
export async function startAuditLog(client: BrokerClient, file: string): Promise<Consumer> {
  // At-least-once delivery: the ids already in the file are not written again.
  const written = new Set<string>();
  const existing = await readFile(file, "utf8").catch(() => "");
  for (const line of existing.split("\n")) if (line.trim() !== "") written.add((JSON.parse(line) as { id: string }).id);
  await client.groups.ensure({ name: GROUP, filter: { types: [...AUDITED] }, start: "beginning", ordering: "none" });
  return client.consume(
    GROUP,
    async (e: Event) => {
      if (written.has(e.id)) return;
      const json = eventToJson(e) as Record<string, unknown>;
      const line = { id: e.id, type: e.type, source: e.source, subject: e.subject, time: json["time"], position: e.position, event: json };
      await appendFile(file, `${JSON.stringify(line)}\n`);
      written.add(e.id);
    },
    { concurrency: 1 },
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const address = process.env["BROKER_ADDRESS"] ?? "127.0.0.1:50051";
  const file = process.argv[2] ?? "audit.ndjson";
  const client = createBrokerClient({ address });
  const consumer = await startAuditLog(client, file);
  process.on("SIGINT", () => void consumer.stop().then(() => client.close()));
  console.log(`audit-log: consuming group '${GROUP}' on ${address} into ${file}; Ctrl-C stops`);
}
