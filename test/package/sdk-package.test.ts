// The SDK installed like a stranger would (issue 13; `npm run test:package`, run by .ci/run): `npm pack` the @qingyu/events workspace, install
// the tarball (plus registry dependencies, nothing else from the repository) into a project in the
// system temp directory, compile test/fixtures/sdk-consumer/app.ts with strict tsc under nodenext and
// bundler resolution and as CommonJS (nodenext, and NestJS's default module commonjs), run each build
// against a broker, and run the CLI from the installed package. Prints the tarball's size and
// dependencies, which README.md states.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

const exec = promisify(execFile);
// Packing builds the SDK and the install fetches TypeScript: minutes on a busy machine.
const SETUP_TIMEOUT_MS = 600_000;
const ROOT = new URL("../../", import.meta.url).pathname;
const APP = new URL("../fixtures/sdk-consumer/app.ts", import.meta.url).pathname;
const rootPackage = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { devDependencies: Record<string, string> };

/** The compiler options a demanding service uses, over each resolution mode. */
const STRICT = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  verbatimModuleSyntax: false,
  skipLibCheck: false,
  target: "ES2022",
  lib: ["ES2023"],
  types: ["node"],
};
const BUILDS = [
  { name: "nodenext (ESM)", dir: ".", options: { module: "nodenext", moduleResolution: "nodenext" } },
  { name: "bundler (ESM)", dir: ".", options: { module: "esnext", moduleResolution: "bundler" } },
  { name: "nodenext (CommonJS, require)", dir: "cjs", options: { module: "nodenext", moduleResolution: "nodenext" } },
  { name: "commonjs + node10 (NestJS default, require)", dir: "cjs", options: { module: "commonjs" } },
];

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}

describe("@qingyu/events installed from its tarball", () => {
  let project: string;
  let pack: PackResult;
  let t: TestBroker;
  let packDir: string | undefined;

  before(async () => {
    packDir = mkdtempSync(join(tmpdir(), "qingyu-pack-"));
    const { stdout } = await exec("npm", ["pack", "-w", "@qingyu/events", "--pack-destination", packDir, "--json"], { cwd: ROOT, maxBuffer: 64 << 20 });
    pack = (JSON.parse(stdout) as PackResult[])[0]!;
    project = mkdtempSync(join(tmpdir(), "stranger-svc-"));
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({
        name: "stranger-svc",
        private: true,
        type: "module",
        dependencies: { "@qingyu/events": `file:${join(packDir, pack.filename)}` },
        devDependencies: { typescript: rootPackage.devDependencies["typescript"], "@types/node": rootPackage.devDependencies["@types/node"] },
      }),
    );
    mkdirSync(join(project, "cjs"));
    writeFileSync(join(project, "cjs", "package.json"), JSON.stringify({ type: "commonjs" }));
    for (const dir of [".", "cjs"]) cpSync(APP, join(project, dir, "app.ts"));
    await exec("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: project });
    t = await startTestBroker();
  }, { timeout: SETUP_TIMEOUT_MS });
  after(async () => {
    await t?.close();
    if (project) rmSync(project, { recursive: true, force: true });
    if (packDir) rmSync(packDir, { recursive: true, force: true });
  });

  it("carries compiled JavaScript and .d.ts, and only the SDK's two dependencies", () => {
    const installed = JSON.parse(readFileSync(join(project, "node_modules", "@qingyu", "events", "package.json"), "utf8")) as { dependencies: Record<string, string> };
    const deps = Object.entries(installed.dependencies).map(([n, v]) => `${n}@${v}`);
    console.log(`# ${pack.filename}: ${pack.size} bytes packed, ${pack.unpackedSize} unpacked, ${pack.entryCount} files; dependencies: ${deps.join(", ")}`);
    assert.deepEqual(Object.keys(installed.dependencies).sort(), ["@bufbuild/protobuf", "@grpc/grpc-js"]);
    const paths = pack.files.map((f) => f.path);
    assert.ok(paths.includes("dist/index.js") && paths.includes("dist/index.d.ts") && paths.includes("dist/cli/main.js"));
    assert.deepEqual(paths.filter((p) => p.endsWith(".ts") && !p.endsWith(".d.ts")), [], "no TypeScript sources: nothing runs through tsx");
    const lock = readFileSync(join(project, "package-lock.json"), "utf8");
    for (const server of ["better-sqlite3", "mongodb", "@nats-io", "pino", "prom-client", "tsx"]) assert.ok(!lock.includes(`node_modules/${server}`), `${server} was installed`);
  });

  for (const build of BUILDS) {
    it(`compiles under strict ${build.name} and runs against a broker`, async () => {
      const dir = join(project, build.dir);
      const outDir = `out-${build.options.module}-${build.options.moduleResolution ?? "node10"}`;
      const tsconfig = `tsconfig.${outDir}.json`;
      writeFileSync(join(dir, tsconfig), JSON.stringify({ compilerOptions: { ...STRICT, ...build.options, outDir }, files: ["app.ts"] }));
      await exec(join(project, "node_modules", ".bin", "tsc"), ["-p", tsconfig], { cwd: dir }).catch((err: { stdout: string }) => assert.fail(`tsc ${build.name}:\n${err.stdout}`));
      const { stdout } = await exec(process.execPath, [join(dir, outDir, "app.js")], { cwd: dir, env: { ...process.env, BROKER_ADDRESS: t.address } });
      const seen = JSON.parse(stdout.trim().split("\n").at(-1)!) as { position: string; subscribed: string[]; replayed: boolean; consumed: string; notFound: boolean };
      assert.notEqual(seen.position, "");
      assert.equal(seen.subscribed[0], "b42");
      assert.deepEqual([seen.replayed, seen.consumed, seen.notFound], [true, "u1", true]);
    });
  }

  it("runs the qingyu-events CLI from the installed package", async () => {
    const cli = join(project, "node_modules", ".bin", "qingyu-events");
    const { stdout: types } = await exec(cli, ["--address", t.address, "types"]);
    assert.match(types, /^like\.added\s+social/m);
    const { stdout: count } = await exec(cli, ["--address", t.address, "count", "like.*"]);
    assert.ok(Number(count.trim()) >= 1);
  });
});
