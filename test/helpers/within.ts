// A bound on one step of a test: the step fails, saying what it waited for, instead of hanging
// until the file's time limit with nothing to show.

/**
 * Resolves as `p` does, or rejects once `ms` have passed with `what()` (called then, so it can
 * describe what is still pending).
 */
export async function within<T>(ms: number, p: Promise<T>, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms: ${what()}`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
