// The store appends the broker-owned fields to the producer's envelope bytes instead of decoding
// and re-encoding it: protobuf parsers accept fields in any order, and producers are refused when
// they set these fields themselves, so the concatenation is exactly the envelope with them set.
import { Wire } from "./wire.js";

const FIELD_TIME = 5;
const FIELD_RECORDED_TIME = 6;
const FIELD_POSITION = 7;

/** `core` followed by [time,] recorded_time and position, in one buffer. */
export function withSuffix(core: Uint8Array, recordedUs: number, position: string, fillTime: boolean): Uint8Array {
  const w = new Wire(core.length + 64).raw(core);
  if (fillTime) w.timestampUs(FIELD_TIME, recordedUs);
  return w.timestampUs(FIELD_RECORDED_TIME, recordedUs).string(FIELD_POSITION, position).finish();
}
