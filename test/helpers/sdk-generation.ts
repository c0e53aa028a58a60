// Another generation of the SDK: today's SDK sources with code generated from another catalog, for
// tests of schema evolution (an SDK built before a type existed, or after a data_version rose).
// Built under .tmp/ in the repository so that node_modules resolves; loaded in-process through tsx.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The SDK's public module, as a generation built here exposes it. */
export type Sdk = typeof import("../../sdk/src/index.js");

export interface SdkGeneration {
  sdk: Sdk;
  dir: string;
  remove(): void;
}

/**
 * Builds an SDK generation from today's proto/ with `overlay` (a directory of .proto files laid over
 * it) and `edit` (changes to file texts, by path under proto/), generated with the repository's
 * buf.gen.yaml plugins.
 */
export async function buildSdkGeneration(name: string, options: { overlay?: string; edit?: Record<string, (text: string) => string> } = {}): Promise<SdkGeneration> {
  mkdirSync(join(ROOT, ".tmp"), { recursive: true });
  const dir = mkdtempSync(join(ROOT, ".tmp", `sdk-${name}-`));
  const proto = join(dir, "proto");
  cpSync(join(ROOT, "proto"), proto, { recursive: true });
  if (options.overlay) cpSync(options.overlay, proto, { recursive: true });
  for (const [path, edit] of Object.entries(options.edit ?? {})) {
    const file = join(proto, path);
    const before = readFileSync(file, "utf8");
    const after = edit(before);
    if (after === before) throw new Error(`edit of ${path} changed nothing`);
    writeFileSync(file, after);
  }
  cpSync(join(ROOT, "sdk", "src"), join(dir, "sdk", "src"), { recursive: true, filter: (src) => !src.startsWith(join(ROOT, "sdk", "src", "gen")) });
  const template = readFileSync(join(ROOT, "buf.gen.yaml"), "utf8").replaceAll("out: sdk/src/gen", `out: ${join(dir, "sdk", "src", "gen")}`);
  const bin = join(ROOT, "node_modules", ".bin");
  execFileSync(join(bin, "buf"), ["generate", proto, "--template", template], { cwd: ROOT, env: { ...process.env, PATH: `${bin}:${process.env["PATH"]}` }, stdio: "inherit" });
  const sdk = (await import(pathToFileURL(join(dir, "sdk", "src", "index.ts")).href)) as Sdk;
  return { sdk, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
