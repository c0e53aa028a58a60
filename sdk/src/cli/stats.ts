// qingyu-events stats as text: one line per figure of GetBrokerStats.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { GetBrokerStatsResponse } from "../gen/qingyu/broker/v1/broker_pb.js";

/** "store: sqlite (1234 bytes)", subscribers, bus, start time; a size the broker could not tell is "size unknown", never 0. */
export function statsText(st: GetBrokerStatsResponse): string {
  const size = st.storeSizeBytes === undefined ? "size unknown" : `${st.storeSizeBytes} bytes`;
  const started = st.startTime ? timestampDate(st.startTime).toISOString() : "?";
  return `store: ${st.store} (${size})\nsubscribers: ${st.subscribers}\nbus: ${st.bus}\nstarted: ${started}`;
}
