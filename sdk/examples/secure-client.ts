// README's Security example, type-checked by `npm test`: finance-svc over TLS with a token, and a
// service authenticated by its client certificate (mutual TLS).
import { readFileSync } from "node:fs";
import { BrokerError, Code, MissingRightSchema, createBrokerClient, newEvent } from "../src/index.js";

const finance = createBrokerClient({
  address: "broker.qingyu.internal:50051",
  source: "finance-svc",
  tls: { ca: readFileSync("certs/ca.pem") },
  credentials: process.env["BROKER_TOKEN"] ?? "", // or () => idService.freshJwt(), called per call
});
const approved = (withdrawalId: string) =>
  newEvent("withdrawal.approved", { withdrawalId, userId: "65f1c2a9e4b0a1b2c3d4e5f6", amount: { currencyCode: "CNY", minorUnits: 50_000n }, processedBy: "65f1c2a9e4b0a1b2c3d4e5f7" });
await finance.publish(approved("65f1c2a9e4b0a1b2c3d4e601"));

const bookstore = createBrokerClient({
  address: "broker.qingyu.internal:50051",
  source: "bookstore-svc",
  tls: { ca: readFileSync("certs/ca.pem"), cert: readFileSync("certs/bookstore-svc.pem"), key: readFileSync("certs/bookstore-svc.key") },
});
try {
  await bookstore.publish(approved("65f1c2a9e4b0a1b2c3d4e602"));
} catch (err) {
  if (err instanceof BrokerError && err.code === Code.PERMISSION_DENIED) {
    console.log(err.findDetails(MissingRightSchema)[0]); // { right: "publish", resource: "withdrawal.approved" }
  }
}
finance.close();
bookstore.close();
