// How the SDK's channel proves who it is: TLS (server verification, and a client certificate for
// mutual TLS) and a bearer token added to every call's metadata.
import * as grpc from "@grpc/grpc-js";
import { BrokerError } from "../errors.js";

/** A bearer token, or a function returning a fresh one for each call (e.g. a short-lived JWT). */
export type TokenSource = string | (() => string | Promise<string>);

/** TLS settings: PEM contents (not file names). */
export interface TlsOptions {
  /** CA certificates that sign the broker's certificate; the system's roots when absent. */
  ca?: string | Buffer;
  /** Client certificate chain, for mutual TLS. */
  cert?: string | Buffer;
  /** Client private key, for mutual TLS. */
  key?: string | Buffer;
}

const pem = (v: string | Buffer | undefined): Buffer | null => (v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v, "utf8"));

/** Channel credentials: TLS when `tls` is given (true: system roots), plaintext otherwise. */
export function channelCredentials(tls: TlsOptions | true | undefined): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure();
  if (tls === true) return grpc.credentials.createSsl();
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new TypeError("tls.cert and tls.key must be given together");
  return grpc.credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
}

/**
 * An interceptor that sends `authorization: Bearer <token>` on every call. An interceptor rather
 * than call credentials: grpc-js refuses call credentials on a plaintext channel, and a broker on
 * loopback may enforce a policy without TLS.
 */
export function bearerInterceptor(token: TokenSource): grpc.Interceptor {
  const fresh = typeof token === "string" ? () => token : token;
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        Promise.resolve()
          .then(fresh)
          .then(
            (t) => {
              metadata.set("authorization", `Bearer ${t}`);
              next(metadata, listener);
            },
            (err: unknown) => {
              const reason = err instanceof Error ? err.message : String(err);
              listener.onReceiveStatus?.({ code: grpc.status.UNAUTHENTICATED, details: `the credentials function failed: ${reason}`, metadata: new grpc.Metadata() });
            },
          );
      },
    });
}

/** @internal Checks an option early, so a wrong type fails at createBrokerClient, not per call. */
export function checkTokenSource(token: unknown): TokenSource | undefined {
  if (token === undefined || typeof token === "function" || (typeof token === "string" && token !== "")) return token as TokenSource | undefined;
  throw new BrokerError(grpc.status.INVALID_ARGUMENT, "credentials must be a non-empty token or a function returning one");
}
