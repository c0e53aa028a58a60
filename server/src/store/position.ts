// Positions are opaque to clients but ordered: 16 lower-case hex digits of the store's sequence
// number, so that string order is log order.

const POSITION = /^[0-9a-f]{16}$/;

export function encodePosition(sequence: number | bigint): string {
  return sequence.toString(16).padStart(16, "0");
}

/** @returns the sequence number, or undefined when `position` is not a position */
export function decodePosition(position: string): bigint | undefined {
  return POSITION.test(position) ? BigInt(`0x${position}`) : undefined;
}

export function isPosition(position: string): boolean {
  return POSITION.test(position);
}
