// Two broker replicas on one real nats-server, sharing one store (the data directory of the first).
import { startTestBroker, type TestBroker } from "./broker.js";
import { startNatsServer, type NatsServer } from "./nats-server.js";

export interface Replicas {
  nats: NatsServer;
  a: TestBroker;
  b: TestBroker;
  close(): Promise<void>;
}

export async function startReplicas(env: Record<string, string> = {}): Promise<Replicas> {
  const nats = await startNatsServer();
  const a = await startTestBroker({ BROKER_NATS_URL: nats.url, ...env });
  const b = await startTestBroker({ BROKER_NATS_URL: nats.url, ...env }, a.dataDir);
  return {
    nats,
    a,
    b,
    async close() {
      await b.close({ keepData: true });
      await a.close();
      await nats[Symbol.asyncDispose]();
    },
  };
}
