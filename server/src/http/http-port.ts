// The broker's HTTP port (BROKER_HTTP_PORT): the services over Connect (JSON and binary) and
// gRPC-web, for curl, browsers and anything without an HTTP/2 gRPC stack. Plain HTTP/1.1 without
// TLS; with the broker's TLS, HTTPS that speaks HTTP/2 and HTTP/1.1 (ALPN), asking for client
// certificates as the gRPC port does. Requests that no service method takes go to `fallback`
// (the console serves its files there); without one they get 404.
import { createContextValues, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import type { Socket } from "node:net";
import type { SecureContextOptions, TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { refuseClientStream } from "./client-streams.js";
import { httpPeerKey, type HttpPeer } from "./connect-routes.js";

/** A Node request listener (http or http2 compatibility API), as Connect's adapter takes it. */
export type NodeHandlerFn = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

export interface HttpPortOptions {
  host: string;
  port: number;
  log: Logger;
  /** Registers the services (see connect-routes.ts). */
  routes: (router: ConnectRouter) => void;
  /** Largest message read or written, as on the gRPC port (BROKER_MAX_MESSAGE_BYTES). */
  maxMessageBytes: number;
  /** The broker's certificate; with `requireClientCertificate`, mutual TLS as on the gRPC port. */
  tls?: { context: SecureContextOptions; requireClientCertificate: boolean } | undefined;
  /** What answers requests for paths that are no service method (e.g. static files at `/`). */
  fallback?: NodeHandlerFn | undefined;
  /** Paths of methods that stream from the client, answered UNIMPLEMENTED (see client-streams.ts). */
  gRpcPortOnly?: ReadonlyMap<string, string>;
  /** Told of each such refusal (counted with the other failed calls). */
  onRefused?: (method: string) => void;
}

/** A bound HTTP port. */
export interface HttpPort {
  readonly port: number;
  /** New certificates for connections from now on (SIGHUP). */
  setSecureContext(context: SecureContextOptions): void;
  /** Stops accepting connections; open ones go on until {@link HttpPort.destroy}. */
  stopAccepting(): void;
  /** Closes every connection that is still open. */
  destroy(): void;
}

function peerOf(socket: Socket | undefined, responded: Promise<void>): HttpPeer {
  const address = socket?.remoteAddress === undefined ? "unknown" : `${socket.remoteAddress}:${socket.remotePort ?? 0}`;
  const tls = socket as Partial<TLSSocket> | undefined;
  const certificate = typeof tls?.getPeerCertificate === "function" && tls.authorized === true ? tls.getPeerCertificate() : undefined;
  return { address, certificate, responded };
}

/** Binds the HTTP port. @throws the listen error (e.g. EADDRINUSE) */
export async function serveHttp(o: HttpPortOptions): Promise<HttpPort> {
  const connect = connectNodeAdapter({
    routes: o.routes,
    // The gRPC protocol has its own port (grpc-js); this one serves what a browser or curl can speak.
    grpc: false,
    grpcWeb: true,
    connect: true,
    readMaxBytes: o.maxMessageBytes,
    writeMaxBytes: o.maxMessageBytes,
    ...(o.fallback ? { fallback: o.fallback } : {}),
    contextValues: (req) => createContextValues().set(httpPeerKey, peerOf(req.socket as Socket, responses.get(req) ?? Promise.resolve())),
  });
  const refused = o.gRpcPortOnly ?? new Map<string, string>();
  const responses = new WeakMap<object, Promise<void>>();
  const handler: NodeHandlerFn = (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const method = refused.get(path);
    if (method === undefined) {
      responses.set(req, new Promise<void>((resolve) => res.once("close", () => resolve())));
      return connect(req, res);
    }
    o.onRefused?.(method);
    refuseClientStream(req, res, path);
  };
  const tls = o.tls;
  const server: Server | Http2SecureServer = tls
    ? createSecureServer({ ...tls.context, allowHTTP1: true, requestCert: tls.requireClientCertificate, rejectUnauthorized: tls.requireClientCertificate }, handler)
    : createServer(handler);
  const sockets = new Set<Socket>();
  server.on(tls ? "secureConnection" : "connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
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
    stopAccepting: () => server.close(),
    destroy: () => {
      for (const s of sockets) s.destroy();
    },
  };
}
