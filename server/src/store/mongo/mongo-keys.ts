// MongoDB compares strings (with the default "simple" collation) as UTF-8 bytes, which is code point
// order; JavaScript's `<` compares UTF-16 code units, which differs once a string holds a character
// above U+FFFF next to one in U+E000–U+FFFF. Every comparison the store makes itself uses this order.
import { prefixUpperBound } from "../prefix-range.js";

/** Compares two strings in UTF-8 byte (code point) order, as MongoDB does. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** A MongoDB range condition matching exactly the strings starting with `prefix`. */
export function prefixRange(prefix: string): { $gte: string; $lt?: string } {
  const upper = prefixUpperBound(prefix);
  return upper === undefined ? { $gte: prefix } : { $gte: prefix, $lt: upper };
}
