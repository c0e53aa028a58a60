// npm run build:console: bundles the web console into dist/console, which the compiled broker
// (npm run start:dist, the Docker image) serves. Running from the sources needs no build.
import { writeConsoleBundle } from "../server/src/console/console-bundle.js";

const dir = process.argv[2] ?? "dist/console";
const files = await writeConsoleBundle(dir);
console.log(`wrote ${files.map((f) => `${dir}/${f}`).join(", ")}`);
