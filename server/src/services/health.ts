import { EventEmitter, on } from "node:events";
import { HealthCheckResponse_ServingStatus as ServingStatus, type HealthCheckRequest } from "../../../sdk/src/gen/grpc/health/v1/health_pb.js";
import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { clip } from "../clip.js";
import { DomainError } from "../errors.js";
import type { HandlerContext } from "./handler-context.js";

/**
 * Serving status of the server ("") and of each service, with change notifications. The broker is
 * healthy or not as a whole (setAll, from the store check); a service may besides be degraded on
 * its own (consumer groups while JetStream does not answer), which makes it NOT_SERVING whatever
 * the whole says.
 */
export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly degraded = new Set<string>();
  private readonly changes = new EventEmitter();

  constructor(services: readonly string[]) {
    for (const s of ["", ...services]) this.statuses.set(s, ServingStatus.NOT_SERVING);
    this.changes.setMaxListeners(0);
  }

  /** Sets every service's status (the broker is healthy or not as a whole). */
  setAll(status: ServingStatus): void {
    for (const service of this.statuses.keys()) this.change(service, () => this.statuses.set(service, status));
  }

  /** Marks one service degraded (NOT_SERVING) or not; the others keep their status. */
  degrade(service: string, degraded: boolean): void {
    if (!this.statuses.has(service)) return;
    this.change(service, () => (degraded ? this.degraded.add(service) : this.degraded.delete(service)));
  }

  private change(service: string, update: () => unknown): void {
    const was = this.get(service);
    update();
    const now = this.get(service);
    if (now !== was) this.changes.emit("change", service, now);
  }

  get(service: string): ServingStatus | undefined {
    if (this.degraded.has(service)) return ServingStatus.NOT_SERVING;
    return this.statuses.get(service);
  }

  /** grpc.health.v1.Health handlers. */
  handlers() {
    return {
      check: async (req: HealthCheckRequest) => {
        const status = this.get(req.service);
        if (status === undefined) throw new DomainError(ErrorReason.SERVICE_NOT_FOUND, `unknown service '${clip(req.service)}'`);
        return { status };
      },
      watch: (req: HealthCheckRequest, ctx: HandlerContext) => this.watch(req.service, ctx.signal),
    };
  }

  private async *watch(service: string, signal: AbortSignal) {
    let last = this.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
    yield { status: last };
    try {
      for await (const [changed, status] of on(this.changes, "change", { signal }) as AsyncIterable<[string, ServingStatus]>) {
        if (changed === service && status !== last) {
          last = status;
          yield { status };
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }
}

export { ServingStatus };
