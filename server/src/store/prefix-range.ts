// The strings that start with a prefix, as a range both stores can index. SQLite (BINARY) and
// MongoDB compare strings as UTF-8 bytes, which is code-point order. The old upper bound,
// `prefix + U+10FFFF`, left out every string with U+10FFFF right after the prefix, which live
// Subscribe (startsWith) delivered and every store read missed.

/** Code points just below and above the UTF-16 surrogates, which no well-formed string holds. */
const BEFORE_SURROGATES = 0xd7ff;
const AFTER_SURROGATES = 0xe000;
const MAX_CODE_POINT = 0x10ffff;

/**
 * The smallest string greater than every string that starts with `prefix`: the prefix with its
 * last code point below U+10FFFF raised by one (and the U+10FFFF after it dropped). So the strings
 * with the prefix are exactly `prefix <= s < upper`.
 *
 * @returns undefined when there is no such string (the prefix is empty or only U+10FFFF): then
 *   every string from `prefix` on has it
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const codePoints = Array.from(prefix);
  while (codePoints.length > 0) {
    const last = (codePoints.pop() as string).codePointAt(0) as number;
    if (last < MAX_CODE_POINT) return codePoints.join("") + String.fromCodePoint(last === BEFORE_SURROGATES ? AFTER_SURROGATES : last + 1);
  }
  return undefined;
}
