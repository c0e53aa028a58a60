// Runs the real `buf curl` (node_modules/.bin/buf) against a broker, and reads what it prints.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
export const BUF = new URL("../../node_modules/.bin/buf", import.meta.url).pathname;

export async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** buf curl prints a server stream as consecutive JSON documents. */
export function jsonDocuments(text: string): Record<string, unknown>[] {
  const docs: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" && depth++ === 0) start = i;
    else if (c === "}" && --depth === 0) docs.push(JSON.parse(text.slice(start, i + 1)) as Record<string, unknown>);
  }
  return docs;
}
