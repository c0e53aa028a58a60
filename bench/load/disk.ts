// The disk's own latency, the raw layer under every durable acknowledgement: `bytes` written and
// fdatasync'ed, one after the other for `seconds`, in a file of the given directory (the broker's
// data directory's file system). "overwrite": in a file written and synced beforehand, as a WAL
// that starts over from its beginning is written; "append": at the end of a growing file, whose
// fdatasync must also make the new size durable.
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { args, latencySummary, report } from "../lib/stats.js";

const { dir, seconds, bytes = 4096, mode = "overwrite", fileBytes = 16 << 20 } = args<{ dir: string; seconds: number; bytes?: number; mode?: "overwrite" | "append"; fileBytes?: number }>();
const file = join(dir, `disk-probe-${process.pid}`);
const fd = openSync(file, "w+");
if (mode === "overwrite") {
  const chunk = Buffer.alloc(1 << 20);
  for (let at = 0; at < fileBytes; at += chunk.length) writeSync(fd, chunk, 0, chunk.length, at);
  fdatasyncSync(fd);
}
const block = randomBytes(bytes);
const latencies: number[] = [];
let offset = 0;
const end = performance.now() + seconds * 1000;
while (performance.now() < end) {
  const t = performance.now();
  writeSync(fd, block, 0, bytes, offset);
  fdatasyncSync(fd);
  latencies.push(performance.now() - t);
  offset += bytes;
  if (mode === "overwrite" && offset + bytes > fileBytes) offset = 0;
}
closeSync(fd);
rmSync(file, { force: true });
report({ mode, bytes, ...latencySummary(latencies) });
