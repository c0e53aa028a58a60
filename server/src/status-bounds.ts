// The size of a status on the wire. A status goes out as HTTP/2 trailers: `grpc-message`
// (percent-encoded, up to 3 bytes per byte) and `grpc-status-details-bin` (base64, 4 per 3). A
// peer refuses a header block above its limit (8 KiB in gRPC C-core clients, 16 KiB in nghttp2
// by default), and an error whose trailers were never sent left the call hanging and every other
// call on its HTTP/2 connection waiting behind it. Every status is cut to fit under 7 KiB,
// whatever the handler put into it; messages and violation lists are already short at their source
// (server/src/clip.ts, errors.ts), this is the last line.
import { create, toBinary } from "@bufbuild/protobuf";
import { anyIs, anyPack, anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema, StatusSchema, type Status } from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { clip, clipBytes, MAX_ECHOED_CHARS } from "./clip.js";

/** UTF-8 bytes of a status message (`grpc-message`, and the message inside the details). */
export const MAX_STATUS_MESSAGE_BYTES = 1_024;
/** Encoded bytes of `grpc-status-details-bin` before base64: the Status with its details. */
export const MAX_STATUS_DETAILS_BYTES = 2_560;
/** ErrorInfo.metadata entries kept (each key and value clipped to MAX_ECHOED_CHARS). */
export const MAX_INFO_ENTRIES = 8;

/** ErrorInfo with at most MAX_INFO_ENTRIES entries, each value clipped. */
function boundedInfo(detail: Any): Any {
  if (!anyIs(detail, ErrorInfoSchema)) return detail;
  const info = anyUnpack(detail, ErrorInfoSchema);
  if (!info) return detail;
  const entries = Object.entries(info.metadata);
  if (entries.length <= MAX_INFO_ENTRIES && entries.every(([k, v]) => k.length <= MAX_ECHOED_CHARS && v.length <= MAX_ECHOED_CHARS)) return detail;
  const metadata = Object.fromEntries(entries.slice(0, MAX_INFO_ENTRIES).map(([k, v]) => [clip(k), clip(v)]));
  return anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { ...info, metadata }));
}

/**
 * `status` cut to fit: message to MAX_STATUS_MESSAGE_BYTES; then, if the encoded status is still
 * above MAX_STATUS_DETAILS_BYTES, typed details are dropped from the end (the ErrorInfo first in
 * the list stays, with `omitted_details` counting what went).
 */
export function boundedStatus(status: Status): Status {
  const message = clipBytes(status.message, MAX_STATUS_MESSAGE_BYTES);
  const details = status.details.map((d, i) => (i === 0 ? boundedInfo(d) : d));
  let out = create(StatusSchema, { code: status.code, message, details });
  let omitted = 0;
  while (out.details.length > 1 && toBinary(StatusSchema, out).length > MAX_STATUS_DETAILS_BYTES) {
    omitted++;
    out = create(StatusSchema, { code: status.code, message, details: out.details.slice(0, -1) });
  }
  if (omitted === 0) return out;
  const first = out.details[0];
  const info = first && anyIs(first, ErrorInfoSchema) ? anyUnpack(first, ErrorInfoSchema) : undefined;
  if (!info) return out;
  const marked = create(ErrorInfoSchema, { ...info, metadata: { ...info.metadata, omitted_details: String(omitted) } });
  return create(StatusSchema, { code: status.code, message, details: [anyPack(ErrorInfoSchema, marked)] });
}
