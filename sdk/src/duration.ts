const UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;

/**
 * Parses a duration such as `"500ms"`, `"90s"`, `"15m"`, `"1h"`, `"30d"` or `"2w"` into milliseconds.
 * @returns undefined when the text is not a duration
 */
export function parseDurationMs(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * (UNITS_MS[m[2] ?? ""] ?? Number.NaN);
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}
