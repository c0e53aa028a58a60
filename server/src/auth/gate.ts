// The broker's door: turns what a call presents into an Access for its handler, under the current
// policy. Without a policy (loopback, as before) every call gets every right. The policy is re-read
// on reload(); a bad file keeps the old policy and says why.
import type { Logger } from "pino";
import { DomainError } from "../errors.js";
import { Access, type OnDenied, type Principal } from "./access.js";
import { Authenticator, type Presented } from "./authenticate.js";
import { loadPolicyFile, PolicyError, type Policy } from "./policy.js";
import { ALL_RIGHTS, type Rights } from "./rights.js";
import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";

const ANONYMOUS: Principal = { name: "anonymous", via: "none" };
const NO_RIGHTS: Rights = {
  publishTypes: new Set(),
  sources: () => false,
  readTypes: new Set(),
  consume: () => false,
  admin: () => false,
};

/** Which methods a call may reach without credentials under a policy. */
export const OpenService = { HEALTH: "health", REFLECTION: "reflection" } as const;
export type OpenService = (typeof OpenService)[keyof typeof OpenService];

export interface GateOptions {
  /** The policy file; undefined runs the broker open (every call has every right). */
  file: string | undefined;
  log: Logger;
  /** Counts denials by principal and method. */
  onDenied?: (principal: string, method: string) => void;
}

export class Gate {
  private policy: Policy | undefined;
  private authenticator: Authenticator | undefined;
  private readonly denied: OnDenied;

  /** @throws PolicyError when the file is missing or invalid (the broker does not start) */
  constructor(private readonly options: GateOptions) {
    if (options.file !== undefined) this.use(loadPolicyFile(options.file));
    this.denied = (d) => {
      options.log.warn({ audit: "denied", ...d }, "access denied");
      options.onDenied?.(d.principal, d.method);
    };
  }

  /** Whether calls are checked against a policy. */
  get enforced(): boolean {
    return this.policy !== undefined;
  }

  private use(policy: Policy): void {
    this.policy = policy;
    this.authenticator = new Authenticator(policy);
  }

  /** Re-reads the policy file; on error keeps the policy in force and logs why. */
  reload(): boolean {
    if (this.options.file === undefined) return false;
    try {
      this.use(loadPolicyFile(this.options.file));
      this.options.log.info({ file: this.options.file, principals: this.policy?.rights.size }, "access policy reloaded");
      return true;
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      this.options.log.error({ file: this.options.file, reason: err.message }, "access policy not reloaded: keeping the previous one");
      return false;
    }
  }

  /** Whether a service is reachable without credentials. */
  isOpen(service: OpenService): boolean {
    return this.policy === undefined || this.policy.open[service];
  }

  /**
   * The admission step of a service's calls; `open` names a service that stays reachable without
   * credentials when the policy says so (asked per call, so a reloaded policy applies at once).
   */
  admitter(open?: OpenService): (presented: Presented, method: string) => Promise<Access> {
    return (presented, method) => (open !== undefined && this.isOpen(open) ? Promise.resolve(new Access(ANONYMOUS, NO_RIGHTS, method, undefined)) : this.admit(presented, method));
  }

  /**
   * The Access of a call to `method` (e.g. "EventBrokerService/Publish").
   * @throws DomainError UNAUTHENTICATED when a policy is in force and nothing valid is presented
   */
  async admit(presented: Presented, method: string): Promise<Access> {
    const policy = this.policy;
    const authenticator = this.authenticator;
    if (!policy || !authenticator) return openAccess(method);
    let principal: Principal;
    try {
      principal = await authenticator.authenticate(presented);
    } catch (err) {
      if (err instanceof DomainError && err.reason === ErrorReason.UNAUTHENTICATED) this.denied({ principal: "", method, right: "authenticate", resource: err.message });
      throw err;
    }
    return new Access(principal, policy.rights.get(principal.name) ?? NO_RIGHTS, method, this.denied);
  }
}

/** The Access of a broker without a policy: every right. */
export function openAccess(method: string): Access {
  return new Access(ANONYMOUS, ALL_RIGHTS, method, undefined);
}
