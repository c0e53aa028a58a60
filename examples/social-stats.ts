// Social statistics: a projection of like, comment and follow counters, fed by a consumer group.
// Port of the seed's SocialStatisticsHandler (which only logged). Run: node --import tsx examples/social-stats.ts
import { TargetType, createBrokerClient, type BrokerClient, type Consumer, type Event } from "../sdk/src/index.js";

export const GROUP = "social-stats";

/** "BOOK/b42": the enum's name, not its number, so printed counters read as what they count. */
function target(v: { targetType: TargetType; targetId: string }): string {
  return `${TargetType[v.targetType] ?? v.targetType}/${v.targetId}`;
}

/** Counters by target ("BOOK/b42") and by user. Applying an event twice changes nothing. */
export class SocialStats {
  readonly likes = new Map<string, number>();
  readonly comments = new Map<string, number>();
  readonly followers = new Map<string, number>();
  // Delivery is at-least-once: remember what was applied. A real service keeps this set (or the
  // last position) in the same transaction as its counters.
  private readonly applied = new Set<string>();

  private bump(map: Map<string, number>, key: string, by: number): void {
    map.set(key, Math.max(0, (map.get(key) ?? 0) + by));
  }

  apply(event: Event): void {
    if (this.applied.has(event.id)) return;
    this.applied.add(event.id);
    const p = event.payload;
    switch (p.case) {
      case "likeAdded":
      case "likeRemoved":
        this.bump(this.likes, target(p.value), p.case === "likeAdded" ? 1 : -1);
        break;
      case "commentCreated":
      case "commentReplied":
      case "commentDeleted":
        this.bump(this.comments, target(p.value), p.case === "commentDeleted" ? -1 : 1);
        break;
      case "followAdded":
      case "followRemoved":
        this.bump(this.followers, p.value.followeeId, p.case === "followAdded" ? 1 : -1);
        break;
    }
  }
}

/** Creates the group if needed and starts consuming into `stats`. */
export async function startSocialStats(client: BrokerClient, stats = new SocialStats()): Promise<{ stats: SocialStats; consumer: Consumer }> {
  await client.groups.ensure({
    name: GROUP,
    filter: { types: ["like.*", "comment.*", "follow.*"] },
    start: "beginning",
    ordering: "subject",
  });
  const apply = (e: Event) => stats.apply(e);
  const consumer = client.consume(GROUP, { "like.added": apply, "like.removed": apply, "comment.created": apply, "comment.replied": apply, "comment.deleted": apply, "follow.added": apply, "follow.removed": apply }, { concurrency: 32 });
  return { stats, consumer };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const address = process.env["BROKER_ADDRESS"] ?? "127.0.0.1:50051";
  const client = createBrokerClient({ address });
  const { stats, consumer } = await startSocialStats(client);
  const timer = setInterval(() => console.log({ likes: Object.fromEntries(stats.likes), comments: Object.fromEntries(stats.comments), followers: Object.fromEntries(stats.followers) }), 5_000);
  process.on("SIGINT", () => void consumer.stop().then(() => (clearInterval(timer), client.close())));
  console.log(`social-stats: consuming group '${GROUP}' on ${address}, counters every 5 s; Ctrl-C stops`);
}
