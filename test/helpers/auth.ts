// The example policy the auth tests start brokers with, and its demo tokens.
import * as grpc from "@grpc/grpc-js";

export const EXAMPLE_POLICY = "deploy/auth-policy.example.yaml";
export const PRINCIPALS = ["social-svc", "bookstore-svc", "finance-svc", "analytics", "operator"] as const;
/** The demo token whose hash deploy/auth-policy.example.yaml gives each principal. */
export const demoToken = (principal: string): string => `demo-${principal}-token`;

/** A plain grpc-js client that sends `headers` on every call (e.g. a bearer token, a spoofed x-operator). */
export function clientWithHeaders(address: string, headers: Record<string, string>): grpc.Client {
  const add: grpc.Interceptor = (o, next) =>
    new grpc.InterceptingCall(next(o), {
      start: (md, listener, start) => {
        for (const [k, v] of Object.entries(headers)) md.set(k, v);
        start(md, listener);
      },
    });
  return new grpc.Client(address, grpc.credentials.createInsecure(), { interceptors: [add] });
}
