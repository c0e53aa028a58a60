// Serves the web console's files at `/` of the HTTP port. The files are made on the first request
// (bundling takes a moment; brokers nobody browses never pay it) and kept for the broker's life.
import type { OutgoingHttpHeaders } from "node:http";
import type { Logger } from "pino";
import { loadConsoleAssets, type ConsoleAssets } from "./console-bundle.js";

// The console loads only its own script and style and talks only to its own origin.
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** What the console reads of a request: Node's HTTP/1.1 and HTTP/2 compatibility requests both fit. */
export interface RequestLike {
  readonly url?: string | undefined;
  readonly method?: string | undefined;
}

/** What the console writes a response with, in either protocol. */
export interface ResponseLike {
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  end(body?: Uint8Array | string): unknown;
}

/** Answers a request for a console file; false when the path is not one (the caller goes on). */
export type ConsoleHandler = (req: RequestLike, res: ResponseLike) => boolean;

function send(res: ResponseLike, status: number, headers: OutgoingHttpHeaders, body?: Uint8Array | string): void {
  res.writeHead(status, headers);
  res.end(body);
}

/** The console's files at their paths, 404 for any other path: the HTTP port's fallback. */
export function consoleFallback(log: Logger): (req: RequestLike, res: ResponseLike) => void {
  const serve = consoleHandler(log);
  return (req, res) => {
    if (!serve(req, res)) send(res, 404, { "content-type": "text/plain; charset=utf-8" }, "not found\n");
  };
}

export function consoleHandler(log: Logger, load: () => Promise<ConsoleAssets> = loadConsoleAssets): ConsoleHandler {
  let assets: Promise<ConsoleAssets> | undefined;
  const files = () => {
    assets ??= load().catch((err: unknown) => {
      // why: a failed build is retried on the next request (e.g. after the sources are fixed).
      assets = undefined;
      throw err;
    });
    return assets;
  };
  const paths = new Set(["/", "/index.html", "/console.js", "/console.css"]);
  return (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    if (!paths.has(path) || (req.method !== "GET" && req.method !== "HEAD")) return false;
    files().then(
      (all) => {
        const asset = all.get(path);
        if (!asset) return send(res, 404, { "content-type": "text/plain" }, "not found\n");
        send(res, 200, { ...SECURITY_HEADERS, "content-type": asset.contentType, "content-length": asset.body.byteLength }, req.method === "HEAD" ? undefined : asset.body);
      },
      (err: unknown) => {
        log.error({ err }, "web console unavailable");
        send(res, 500, { "content-type": "text/plain; charset=utf-8" }, "the web console could not be built: see the broker's log\n");
      },
    );
    return true;
  };
}
