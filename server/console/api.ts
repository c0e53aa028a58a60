// The broker's two services over the Connect protocol (binary), from where the console was served.
// A token pasted by the operator goes with every call as `Authorization: Bearer …`.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { EventBrokerService } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { ConsumerGroupService } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";

const TOKEN_KEY = "qingyu-console-token";

/** The bearer token of this tab ("" when none); kept for the tab's life only. */
export function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function setToken(value: string): void {
  if (value.trim() === "") sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value.trim().replace(/^Bearer\s+/i, ""));
}

const bearer: Interceptor = (next) => (req) => {
  const t = token();
  if (t !== "") req.header.set("Authorization", `Bearer ${t}`);
  return next(req);
};

// The services are beside the page (a proxy may serve both under a path prefix).
const baseUrl = new URL(".", location.href).href.replace(/\/$/, "");
const transport = createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors: [bearer] });

export const broker = createClient(EventBrokerService, transport);
export const groups = createClient(ConsumerGroupService, transport);

/** "[PERMISSION_DENIED] principal 'x' may not read 'y'" */
export function describeError(err: unknown): string {
  const e = ConnectError.from(err);
  const name = (Code[e.code] ?? String(e.code)).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  return `[${name}] ${e.rawMessage}`;
}

/** True for the error an aborted call ends with (the page was left, a tail paused). */
export function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || ConnectError.from(err).code === Code.Canceled;
}
