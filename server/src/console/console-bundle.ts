// The web console's files: index.html, console.css and console.js (server/console/*.ts bundled by
// esbuild for the browser, with the generated schemas and connect-web; nothing is fetched from a
// CDN). Built in memory from the sources when the broker runs from them (npm start, tests), so a
// bundle is never stale; read from dist/console when it runs compiled (npm run build writes it).
import { readFile, mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/** One file of the console: its bytes and content type. */
export interface ConsoleAsset {
  readonly body: Uint8Array;
  readonly contentType: string;
}

/** The console's files by URL path ("/console.js"). */
export type ConsoleAssets = ReadonlyMap<string, ConsoleAsset>;

const TYPES = { "index.html": "text/html; charset=utf-8", "console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8" } as const;
type FileName = keyof typeof TYPES;

/** Where the console's sources are, relative to this file (server/src/console/ → server/console/). */
const SOURCES = fileURLToPath(new URL("../../console/", import.meta.url));
/** Where `npm run build` puts the bundle, relative to the compiled file (dist/server/src/console/ → dist/console/). */
const BUILT = fileURLToPath(new URL("../../../console/", import.meta.url));

/** True when this module runs from its TypeScript source (tsx), not from dist/. */
export const FROM_SOURCES = import.meta.url.endsWith(".ts");

/** Bundles the sources with esbuild (a development dependency: only needed when running from sources). */
export async function bundleConsole(): Promise<Map<FileName, Uint8Array>> {
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [`${SOURCES}main.ts`],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    logLevel: "silent",
    tsconfig: `${SOURCES}tsconfig.json`,
  });
  const js = result.outputFiles[0];
  if (!js) throw new Error("esbuild produced no console bundle");
  return new Map<FileName, Uint8Array>([
    ["console.js", js.contents],
    ["index.html", await readFile(`${SOURCES}index.html`)],
    ["console.css", await readFile(`${SOURCES}console.css`)],
  ]);
}

/** Writes the bundle to `dir` (npm run build:console; the Docker image serves it from dist/console). */
export async function writeConsoleBundle(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = await bundleConsole();
  for (const [name, body] of files) await writeFile(`${dir}/${name}`, body);
  return [...files.keys()];
}

/** The console's files: bundled now from the sources, or read from dist/console. */
export async function loadConsoleAssets(): Promise<ConsoleAssets> {
  const files = FROM_SOURCES ? await bundleConsole() : await readBuilt();
  const out = new Map<string, ConsoleAsset>();
  for (const [name, body] of files) out.set(`/${name}`, { body, contentType: TYPES[name] });
  const index = out.get("/index.html");
  if (index) out.set("/", index);
  return out;
}

async function readBuilt(): Promise<Map<FileName, Uint8Array>> {
  const out = new Map<FileName, Uint8Array>();
  for (const name of Object.keys(TYPES) as FileName[]) {
    try {
      out.set(name, await readFile(`${BUILT}${name}`));
    } catch (err) {
      throw new Error(`the web console is not built: ${BUILT}${name} is missing (run npm run build)`, { cause: err });
    }
  }
  return out;
}
