// MongoDB compares strings (with the default "simple" collation) as UTF-8 bytes, which is code point
// order; JavaScript's `<` compares UTF-16 code units, which differs once a string holds a character
// above U+FFFF next to one in U+E000–U+FFFF. Every comparison the store makes itself uses this order.

/** Compares two strings in UTF-8 byte (code point) order, as MongoDB does. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

const MAX_CODE_POINT = 0x10ffff;
const SURROGATES_START = 0xd800;
const SURROGATES_END = 0xdfff;

/**
 * The least string greater than every string that starts with `prefix`, in code point order, or
 * undefined when there is none (the prefix is only U+10FFFF characters). `prefix + "\u{10FFFF}"`
 * is not it: it misses the strings that continue with U+10FFFF itself. The last code point that can
 * grow is incremented (skipping the surrogate range, which no string in UTF-8 holds) and the rest
 * dropped.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = Array.from(prefix, (c) => c.codePointAt(0) as number);
  while (points.length > 0) {
    const last = points.pop() as number;
    if (last === MAX_CODE_POINT) continue;
    const next = last + 1 === SURROGATES_START ? SURROGATES_END + 1 : last + 1;
    return String.fromCodePoint(...points, next);
  }
  return undefined;
}

/** A MongoDB range condition matching exactly the strings starting with `prefix`. */
export function prefixRange(prefix: string): { $gte: string; $lt?: string } {
  const upper = prefixUpperBound(prefix);
  return upper === undefined ? { $gte: prefix } : { $gte: prefix, $lt: upper };
}
