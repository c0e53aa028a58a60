// The one place that decides what a call may do. Every handler, whatever transport brought the
// call, asks its context's Access before it publishes, reads or administers anything.
import { ErrorReason, MissingRightSchema } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError, pack } from "../errors.js";
import { allEventTypes, type Rights } from "./rights.js";

/** Who is calling, as authenticated. */
export interface Principal {
  readonly name: string;
  /** How it was authenticated; "none" when the broker runs without a policy. */
  readonly via: "token" | "jwt" | "certificate" | "none";
}

/** The kinds of rights a call can lack, as named in MissingRight.right. */
export const Right = {
  PUBLISH: "publish",
  SOURCE: "source",
  READ: "read",
  CONSUME: "consume",
  ADMIN: "admin",
} as const;
export type Right = (typeof Right)[keyof typeof Right];

/** Told of every denial: for the audit log and the denial counter. */
export type OnDenied = (denial: { principal: string; method: string; right: string; resource: string }) => void;

export function permissionDenied(principal: string, right: Right, resource: string, metadata: Record<string, string> = {}): DomainError {
  const what = right === Right.SOURCE ? `claim source '${resource}'` : `${right} '${resource}'`;
  return new DomainError(ErrorReason.PERMISSION_DENIED, `principal '${principal}' may not ${what}`, {
    details: [pack(MissingRightSchema, { right, resource })],
    metadata: { ...metadata, right, resource },
  });
}

/** A call's rights: its principal's, checked on behalf of one method. */
export class Access {
  constructor(
    readonly principal: Principal,
    private readonly rights: Rights,
    private readonly method: string,
    private readonly onDenied: OnDenied | undefined,
  ) {}

  /** The name to write in audit logs. */
  get caller(): string {
    return this.principal.name;
  }

  private deny(right: Right, resource: string, metadata?: Record<string, string>): never {
    this.onDenied?.({ principal: this.principal.name, method: this.method, right, resource });
    throw permissionDenied(this.principal.name, right, resource, metadata);
  }

  /**
   * An event may be published: its type is among the principal's, and so is the source it claims.
   * @throws DomainError PERMISSION_DENIED naming the type or the source
   */
  publish(type: string, source: string, metadata?: Record<string, string>): void {
    if (!this.rights.publishTypes.has(type)) this.deny(Right.PUBLISH, type, metadata);
    if (!this.rights.sources(source)) this.deny(Right.SOURCE, source, metadata);
  }

  /**
   * A filter reads only types the principal may read; `undefined` means every type. A filter that
   * reaches further is refused, never narrowed.
   * @throws DomainError PERMISSION_DENIED naming the first type out of reach
   */
  read(types: readonly string[] | undefined): void {
    const wanted = types ?? allEventTypes();
    const missing = wanted.find((t) => !this.rights.readTypes.has(t));
    if (missing !== undefined) this.deny(Right.READ, types === undefined ? "*" : missing);
  }

  /** Whether one event may be read (GetEvent answers NOT_FOUND otherwise, to hide that it exists). */
  mayRead(type: string): boolean {
    return this.rights.readTypes.has(type);
  }

  /** Whether the principal may read anything at all. */
  get readsAnything(): boolean {
    return this.rights.readTypes.size > 0;
  }

  /** @throws DomainError PERMISSION_DENIED unless the principal may consume `group` */
  consume(group: string): void {
    if (!this.rights.consume(group)) this.deny(Right.CONSUME, group);
  }

  /** @throws DomainError PERMISSION_DENIED unless the principal may administer `group` */
  admin(group: string): void {
    if (!this.rights.admin(group)) this.deny(Right.ADMIN, group);
  }

  /** Groups GetGroup and ListGroups show: those the principal may consume or administer. */
  maySee(group: string): boolean {
    return this.rights.consume(group) || this.rights.admin(group);
  }

  /** @throws DomainError PERMISSION_DENIED unless the principal may consume or administer `group` */
  see(group: string): void {
    if (!this.maySee(group)) this.deny(Right.CONSUME, group);
  }
}
