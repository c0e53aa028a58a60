// README's SDK example, type-checked by `npm test`. Run it against a broker:
//   npm start &  node --import tsx sdk/examples/quickstart.ts
import { BrokerError, Code, TargetType, createBrokerClient, newEvent } from "../src/index.js";

const client = createBrokerClient({ address: "127.0.0.1:50051", source: "social-svc" });

const like = newEvent("like.added", { userId: "u1", targetType: TargetType.BOOK, targetId: "b42" }, { subject: "book/b42" });
const ack = await client.publish(like); // resolves once the event is durable
console.log(ack.position, ack.duplicate); // publishing the same event again: same position, duplicate=true

const pub = client.publisher({ window: 1000 }); // high throughput: many in flight, acked in order
await Promise.all([1, 2, 3].map((n) => pub.publish(newEvent("follow.added", { followerId: `u${n}`, followeeId: "author-7" }))));
await pub.close();

for await (const e of client.replay({ types: ["like.*"], from: new Date(Date.now() - 3_600_000) })) {
  if (e.payload.case === "likeAdded") console.log(e.position, e.payload.value.targetId); // typed payload
}

try {
  await client.getEvent("0190f5a0-8b2c-7d3e-9f40-ffffffffffff");
} catch (err) {
  if (err instanceof BrokerError && err.code === Code.NOT_FOUND) console.log("no such event");
}
client.close();
