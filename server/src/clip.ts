// Bounds on text that repeats what a client sent: error messages, status details and log lines.
// A client controls the size of its input (a 1 MiB event type, 10,000 bad metadata keys); what the
// broker says back about it must not grow with it.

/** Characters of a client's value that an error message repeats. */
export const MAX_ECHOED_CHARS = 128;

/**
 * `value` cut to `max` characters, with a marker naming how many were left off
 * (`'aaaa…[+99872 chars]'`). A surrogate pair is never split.
 */
export function clip(value: string, max = MAX_ECHOED_CHARS): string {
  if (value.length <= max) return value;
  const last = value.charCodeAt(max - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? max - 1 : max;
  return `${value.slice(0, end)}…[+${value.length - end} chars]`;
}

const encoder = new TextEncoder();

/**
 * `text` cut to at most `maxBytes` bytes of UTF-8, marker included (`…[cut from 1048600 bytes]`),
 * never inside a character. For limits that are in bytes: HTTP/2 header sizes, log lines.
 */
export function clipBytes(text: string, maxBytes: number): string {
  // Each UTF-16 unit is at most 3 bytes of UTF-8: shorter texts need no measuring.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return text;
  const marker = `…[cut from ${bytes} bytes]`;
  const room = new Uint8Array(Math.max(0, maxBytes - Buffer.byteLength(marker)));
  const { read } = encoder.encodeInto(text, room);
  return text.slice(0, read) + marker;
}
