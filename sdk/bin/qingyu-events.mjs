#!/usr/bin/env node
// The CLI entry: loads the TypeScript source through tsx (a dependency of this package).
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
