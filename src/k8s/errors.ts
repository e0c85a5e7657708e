/** Errors of the Kubernetes API layer. */

/** A missing or invalid setting of the cluster configuration; `field` names it (or the file). */
export class K8sConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = "K8sConfigError";
  }
}

/**
 * A failed API request: `status` is the HTTP status (or the `code` of a Status object in a watch
 * ERROR event; 0 when no response came), `reason` the Status reason (410 => "Expired" or "Gone").
 */
export class K8sApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason?: string,
    /** The server's Retry-After (429, 503), in seconds. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "K8sApiError";
  }

  /** The resourceVersion asked for is no longer available: relist. */
  get gone(): boolean {
    return this.status === 410 || this.reason === "Expired" || this.reason === "Gone";
  }
}

/** A request the agent's access list (AGENT_ACCESS) does not cover. */
export class K8sAccessError extends Error {
  constructor(
    readonly kind: string,
    readonly verb: string,
  ) {
    super(`${verb} ${kind}: not in AGENT_ACCESS (src/k8s/access.ts)`);
    this.name = "K8sAccessError";
  }
}
