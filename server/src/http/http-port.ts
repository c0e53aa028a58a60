// The broker's HTTP port (BROKER_HTTP_PORT): the services over Connect (JSON and binary) and
// gRPC-web, for curl, browsers and anything without an HTTP/2 gRPC stack. Plain HTTP/1.1 without
// TLS; with the broker's TLS, HTTPS that speaks HTTP/2 and HTTP/1.1 (ALPN), asking for client
// certificates as the gRPC port does. Requests that no service method takes go to `fallback`
// (the console serves its files there); without one they get 404.
import { createContextValues, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import type { SecureContextOptions, TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { refuseClientStream } from "./client-streams.js";
import { httpPeerKey, type HttpPeer } from "./connect-routes.js";
import type { IncompleteMessages } from "../incomplete-messages.js";
import { boundRequestBodies } from "./request-bodies.js";
import { hostAllowed } from "./allowed-hosts.js";

/** A Node request listener (http or http2 compatibility API), as Connect's adapter takes it. */
export type NodeHandlerFn = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

export interface HttpPortOptions {
  host: string;
  port: number;
  log: Logger;
  /** Registers the services (see connect-routes.ts). */
  routes: (router: ConnectRouter) => void;
  /** Largest request message read, as on the gRPC port (BROKER_MAX_MESSAGE_BYTES). */
  maxMessageBytes: number;
  /** The broker's certificate; with `requireClientCertificate`, mutual TLS as on the gRPC port. */
  tls?: { context: SecureContextOptions; requireClientCertificate: boolean } | undefined;
  /** How long a TLS handshake may take (BROKER_PREFACE_TIMEOUT_MS, as on the gRPC port). */
  handshakeTimeoutMs?: number | undefined;
  /** What answers requests for paths that are no service method (e.g. static files at `/`). */
  fallback?: NodeHandlerFn | undefined;
  /** Paths of methods that stream from the client, answered UNIMPLEMENTED (see client-streams.ts). */
  gRpcPortOnly?: ReadonlyMap<string, string>;
  /** Told of each such refusal (counted with the other failed calls). */
  onRefused?: (method: string) => void;
  /** The gRPC port's count of incomplete messages: request bodies count in it until they end. */
  incomplete?: IncompleteMessages | undefined;
  /** How long a request's headers may take (BROKER_PREFACE_TIMEOUT_MS), and its body after them (BROKER_INCOMPLETE_MESSAGE_TIMEOUT_MS). */
  requestTimeouts?: { headersMs: number; bodyMs: number } | undefined;
  /** Host names answered besides IP addresses, localhost and `host` (allowed-hosts.ts). */
  allowedHosts?: readonly string[] | undefined;
}

/** Streams one HTTP/2 connection may have open at once. */
const MAX_CONCURRENT_STREAMS = 1_000;

/** Node's HTTP/1.1 request timeouts from the broker's: headers, then the whole request. */
function http1Timeouts(t: HttpPortOptions["requestTimeouts"]) {
  if (!t) return {};
  return { headersTimeout: t.headersMs, requestTimeout: t.headersMs + t.bodyMs, connectionsCheckingInterval: Math.max(50, Math.floor(Math.min(t.headersMs, t.bodyMs) / 4)) };
}

/** A bound HTTP port. */
export interface HttpPort {
  readonly port: number;
  /** New certificates for connections from now on (SIGHUP). */
  setSecureContext(context: SecureContextOptions): void;
  /**
   * Stops accepting connections and calls: a call on a connection still open is answered UNAVAILABLE
   * (SHUTTING_DOWN), idle connections are closed, HTTP/2 ones get GOAWAY; open calls go on until
   * they end or {@link HttpPort.destroy}.
   */
  stopAccepting(): void;
  /** Closes every connection that is still open. */
  destroy(): void;
}

type Written = Pick<HttpPeer, "responded" | "abandon">;

function peerOf(socket: Socket | undefined, written: Written, closing: () => boolean): HttpPeer {
  const address = socket?.remoteAddress === undefined ? "unknown" : `${socket.remoteAddress}:${socket.remotePort ?? 0}`;
  const tls = socket as Partial<TLSSocket> | undefined;
  const certificate = typeof tls?.getPeerCertificate === "function" && tls.authorized === true ? tls.getPeerCertificate() : undefined;
  return { address, certificate, ...written, closing };
}

/** What a response the broker no longer waits for fails with: Connect takes ECONNRESET for the client gone (no log). */
function abandoned(): Error {
  return Object.assign(new Error("the response was abandoned: the client went away or stopped reading"), { code: "ECONNRESET" });
}

/**
 * Keeps a response's writes from waiting forever. Connect writes a message, then waits for 'drain'
 * or 'error'; a client that stops reading and then goes away gives the response 'close' and neither
 * (Node 20), so the stream's handler would never resume: never end, never leave the registry. Here
 * 'close' before the response is finished fails the pending write; and once the server ends the
 * call (slow consumer, deadline, shutdown), a write the client does not take resets the connection
 * (HTTP/1.1) or stream (HTTP/2), as the gRPC port resets a stalled stream.
 */
function watchWrites(res: Parameters<NodeHandlerFn>[1]): Written {
  let ended = false;
  const fail = () => {
    if (ended || res.writableFinished) return;
    ended = true;
    res.emit("error", abandoned());
    res.destroy();
  };
  res.on("error", () => {});
  const responded = new Promise<void>((resolve) =>
    res.once("close", () => {
      fail();
      resolve();
    }),
  );
  let abandoning = false;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  res.write = ((...args: unknown[]) => {
    const flushed = write(...args);
    if (!flushed && abandoning) queueMicrotask(fail);
    return flushed;
  }) as typeof res.write;
  const abandon = () => {
    abandoning = true;
    if (res.writableNeedDrain) fail();
  };
  return { responded, abandon };
}

/**
 * A request's response watch, kept on the request (not in a WeakMap, whose entries V8's scavenges
 * keep alive until a full GC, with everything the request reaches: BENCHMARKS.md, issue 18).
 */
const WRITTEN = Symbol("qingyu.written");
type WithWritten = { [WRITTEN]?: Written };

/** Binds the HTTP port. @throws the listen error (e.g. EADDRINUSE) */
export async function serveHttp(o: HttpPortOptions): Promise<HttpPort> {
  const connect = connectNodeAdapter({
    routes: o.routes,
    // The gRPC protocol has its own port (grpc-js); this one serves what a browser or curl can speak.
    grpc: false,
    grpcWeb: true,
    connect: true,
    readMaxBytes: o.maxMessageBytes,
    // No writeMaxBytes: the handlers bound what they answer (a page by its budget, in the binary
    // encoding), and the same page in JSON is larger; a bound here failed it with a bare error.
    ...(o.fallback ? { fallback: o.fallback } : {}),
    contextValues: (req) => createContextValues().set(httpPeerKey, peerOf(req.socket as Socket, (req as WithWritten)[WRITTEN] ?? { responded: Promise.resolve(), abandon: () => {} }, () => closing)),
  });
  const refused = o.gRpcPortOnly ?? new Map<string, string>();
  let closing = false;
  const countBody = o.incomplete ? boundRequestBodies(o.incomplete, o.log) : undefined;
  const forUs = hostAllowed(o.host, o.allowedHosts ?? []);
  const handler: NodeHandlerFn = (req, res) => {
    const authority = "authority" in req ? req.authority : req.headers.host;
    if (!forUs(authority)) {
      o.log.debug({ host: authority, url: req.url }, "http request refused: host not allowed (BROKER_HTTP_ALLOWED_HOSTS)");
      res.writeHead(421, { "content-type": "text/plain; charset=utf-8", ...("stream" in req ? {} : { connection: "close" }) });
      res.end(`421 Misdirected Request: this broker does not answer for host '${String(authority).slice(0, 128)}'; see BROKER_HTTP_ALLOWED_HOSTS\n`);
      return;
    }
    countBody?.(req);
    // At shutdown a connection kept alive gets its answer (SHUTTING_DOWN) and is closed after it.
    if (closing && !("stream" in req)) res.setHeader("connection", "close");
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const method = refused.get(path);
    if (method === undefined) {
      (req as WithWritten)[WRITTEN] = watchWrites(res);
      return connect(req, res);
    }
    o.onRefused?.(method);
    refuseClientStream(req, res, path);
  };
  const tls = o.tls;
  const server: Server | Http2SecureServer = tls
    ? createSecureServer(
        {
          ...tls.context,
          allowHTTP1: true,
          requestCert: tls.requireClientCertificate,
          rejectUnauthorized: tls.requireClientCertificate,
          settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
          ...(o.handshakeTimeoutMs === undefined ? {} : { handshakeTimeout: o.handshakeTimeoutMs }),
        },
        handler,
      )
    : createServer(http1Timeouts(o.requestTimeouts), handler);
  const sockets = new Set<Socket>();
  server.on(tls ? "secureConnection" : "connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on("clientError", (err: Error, socket: Socket) => {
    o.log.debug({ err }, "http client error");
    socket.destroy();
  });
  server.listen(o.port, o.host);
  await Promise.race([once(server, "listening"), once(server, "error").then(([err]) => Promise.reject(err as Error))]);
  const port = (server.address() as { port: number }).port;
  return {
    port,
    setSecureContext: (context) => (server as Partial<Http2SecureServer>).setSecureContext?.(context),
    stopAccepting: () => {
      closing = true;
      server.close();
      // Idle keep-alive connections close now; HTTP/2 clients get GOAWAY (their open streams go on).
      (server as Partial<Server>).closeIdleConnections?.();
      for (const session of sessions) session.close();
    },
    destroy: () => {
      for (const s of sockets) s.destroy();
    },
  };
}
