// A container health check without extra binaries: asks this broker's grpc.health.v1.Health
// whether it is SERVING, on the port its configuration says. Exit 0 when serving, 1 otherwise.
//   node dist/server/src/healthcheck.js
import * as grpc from "@grpc/grpc-js";
import { Health, HealthCheckResponse_ServingStatus } from "../../sdk/src/gen/grpc/health/v1/health_pb.js";
import { grpcServiceDefinition } from "../../sdk/src/grpc/service-definition.js";
import { loadConfig } from "./config.js";

const TIMEOUT_MS = 3_000;

const config = loadConfig(process.env);
// A broker listening on every interface is reached on loopback from inside its container.
const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(Health) as grpc.ServiceDefinition, "Health");
type HealthClient = grpc.Client & { check(req: object, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: number }) => void): void };
const client = new Client(`${host.includes(":") ? `[${host}]` : host}:${config.grpcPort}`, grpc.credentials.createInsecure()) as unknown as HealthClient;
client.check({ service: "" }, { deadline: Date.now() + TIMEOUT_MS }, (err: grpc.ServiceError | null, res?: { status: number }) => {
  client.close();
  const serving = !err && res?.status === HealthCheckResponse_ServingStatus.SERVING;
  if (!serving) process.stderr.write(`broker not serving: ${err ? err.message : `status ${res?.status}`}\n`);
  process.exit(serving ? 0 : 1);
});
