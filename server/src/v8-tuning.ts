// V8 settings the broker applies to itself at start-up (main.ts), before it allocates anything
// of its own. Each is measured in BENCHMARKS.md ("Issue 18, second pass").
import { setFlagsFromString } from "node:v8";

/**
 * Turns off V8's allocation-site pretenuring, unless the process was started with an
 * `--allocation-site-pretenuring` option of its own (in its arguments or NODE_OPTIONS), which wins.
 *
 * V8 watches which allocation sites' objects survive a young-generation GC; a site whose objects
 * all survive for a while is switched to allocate straight into the old generation. A burst of
 * concurrent calls (a client that reconnects with hundreds of publishes in flight, a load test's
 * warm-up) makes every site of the call path look long-lived, after which every call's objects
 * are born old, die old, and, being old, keep the young objects they point to alive through
 * every scavenge: at 1,000 calls/s each scavenge then copied and promoted ~2 MB (6 ms pauses
 * instead of 1.6) until a mark-compact, and p99 doubled. A broker's allocations are almost all
 * per call and short-lived, so the feedback only ever hurts it; the flag is process-wide (the
 * store's worker threads included) and read at each GC, so setting it here takes effect at once.
 * Returns whether it was set.
 */
export function tuneV8(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env["NODE_OPTIONS"] ?? ""): boolean {
  const chosen = [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => /^--(no-)?allocation[-_]site[-_]pretenuring$/.test(a));
  if (chosen) return false;
  setFlagsFromString("--no-allocation-site-pretenuring");
  return true;
}
