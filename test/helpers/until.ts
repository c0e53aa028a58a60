// Waiting for something a test cannot be told about (a broker's gauge, a child process's output):
// the one polling helper of the test suites.

export interface UntilOptions {
  /** How long to wait before failing; `Infinity` leaves it to the test runner's timeout. */
  timeoutMs?: number;
  /** How long to sleep between two checks. */
  everyMs?: number;
}

/**
 * Checks `cond` until it holds, sleeping `everyMs` between two checks; once `timeoutMs` have passed
 * with it false, fails with "timed out waiting for <what>".
 */
export async function until(cond: () => boolean | Promise<boolean>, what: string, { timeoutMs = 10_000, everyMs = 10 }: UntilOptions = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
