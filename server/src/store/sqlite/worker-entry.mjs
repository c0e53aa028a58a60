// Entry point of the SQLite worker threads. Node 20 does not apply --import loaders to a worker's
// entry file, so under tsx (development and tests) the TypeScript source is loaded through tsx's
// API; a built server runs the compiled .js directly.
import { workerData } from "node:worker_threads";

if (workerData.source.endsWith(".ts")) {
  const { register } = await import("tsx/esm/api");
  register();
}
await import(workerData.source);
