// The canonical status codes, numbered as gRPC numbers them (Connect uses the same numbers). Kept
// apart from every transport so that handlers, logs and metrics name codes the same way whichever
// door a call came through.
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

/** The name of each code, as metrics label it (`INVALID_ARGUMENT`). */
export const CODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Code).map(([name, code]) => [code, name]));
