// Runs the real qingyu-events CLI (sdk/bin/qingyu-events.mjs) as a child process.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
export const CLI = new URL("../../sdk/bin/qingyu-events.mjs", import.meta.url).pathname;

/** Runs the CLI against `address` with `args`, feeding `input` on stdin; rejects on a non-zero exit. */
export function runCli(address: string, args: string[], input?: string) {
  const p = run(process.execPath, [CLI, "--address", address, ...args], { timeout: 60_000 });
  if (input !== undefined) p.child.stdin?.end(input);
  return p;
}
