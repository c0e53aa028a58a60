// DNS rebinding: a web page whose name is made to resolve to the broker's address (127.0.0.1) is,
// for the browser, same-origin with the broker, and could call it with whatever a loopback broker
// lets anyone do. Its requests still carry the page's name in Host (:authority), so the HTTP port
// answers only names it knows: IP addresses (no rebinding without a name), localhost, the host it
// is bound to, and BROKER_HTTP_ALLOWED_HOSTS ("*" turns the check off). Others get 421.
import { isIP } from "node:net";

/** The host name of a Host header or :authority, without port or IPv6 brackets, lower case. */
export function hostName(authority: string): string {
  const a = authority.trim().toLowerCase();
  if (a.startsWith("[")) return a.slice(1, a.indexOf("]") < 0 ? undefined : a.indexOf("]"));
  const colon = a.lastIndexOf(":");
  return colon < 0 ? a : a.slice(0, colon);
}

/** Whether a request naming `authority` is for this broker. */
export function hostAllowed(bound: string, allowed: readonly string[]): (authority: string | undefined) => boolean {
  const names = new Set(["localhost", hostName(bound), ...allowed]);
  if (names.has("*")) return () => true;
  return (authority) => {
    if (authority === undefined) return false;
    const name = hostName(authority).replace(/\.$/, "");
    return isIP(name) !== 0 || names.has(name) || name.endsWith(".localhost");
  };
}
