// The store appends the broker-owned fields to the producer's envelope bytes instead of decoding
// and re-encoding it: protobuf parsers accept fields in any order, and producers are refused when
// they set these fields themselves, so the concatenation is exactly the envelope with them set.
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

const FIELD_TIME = 5;
const FIELD_RECORDED_TIME = 6;
const FIELD_POSITION = 7;

function writeTimestamp(w: BinaryWriter, field: number, us: number): void {
  const seconds = Math.floor(us / 1e6);
  const nanos = (us - seconds * 1e6) * 1000;
  w.tag(field, WireType.LengthDelimited).fork();
  if (seconds !== 0) w.tag(1, WireType.Varint).int64(seconds);
  if (nanos !== 0) w.tag(2, WireType.Varint).int32(nanos);
  w.join();
}

/** The bytes to append to a producer's envelope: [time,] recorded_time, position. */
export function envelopeSuffix(recordedUs: number, position: string, fillTime: boolean): Uint8Array {
  const w = new BinaryWriter();
  if (fillTime) writeTimestamp(w, FIELD_TIME, recordedUs);
  writeTimestamp(w, FIELD_RECORDED_TIME, recordedUs);
  w.tag(FIELD_POSITION, WireType.LengthDelimited).string(position);
  return w.finish();
}

/** `core` followed by the suffix, in one new buffer. */
export function withSuffix(core: Uint8Array, recordedUs: number, position: string, fillTime: boolean): Uint8Array {
  const suffix = envelopeSuffix(recordedUs, position, fillTime);
  const out = new Uint8Array(core.length + suffix.length);
  out.set(core, 0);
  out.set(suffix, core.length);
  return out;
}
