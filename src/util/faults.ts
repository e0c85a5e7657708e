/**
 * Fault injection for the reliability tests: `faultPoint(name)` is called right after each resource
 * of an ADD exists (each Rollback.push, each change tether makes to the kernel or the firewall).
 * With TETHER_FAULT_AT=N in the environment, the N-th point reached throws a FaultInjected error,
 * so a test can fail ADD at every step in turn and prove the rollback leaves nothing behind.
 *
 * The switch is decided at build time: scripts/build.mjs `define`s __TETHER_FAULTS__ as false for
 * dist/tether (every call below folds to a no-op and the environment is never read) and as true
 * for the test-only dist/tether-faults. The compiled sources (tsc, under node: the tests) have no
 * define, and read the variable.
 *
 *   TETHER_FAULT_AT=N      fail at the N-th point (1-based)
 *   TETHER_FAULT_TRACE=1   name each point reached on stderr ("tether-fault: #N name")
 *   TETHER_FAULT_KILL=1    at that point, die of SIGKILL instead of throwing (an ADD killed there)
 *   TETHER_FAULT_PAUSE=F   at that point, neither throw nor die: create F.reached, wait until F
 *                          exists, then go on (an ADD held mid-way, its lock held)
 */
import fs = require("node:fs");
import { sleepSync } from "./sleep";

declare const __TETHER_FAULTS__: boolean | undefined;

export class FaultInjected extends Error {
  constructor(
    readonly point: number,
    readonly where: string,
  ) {
    super(`fault injected at point #${point} (${where})`);
    this.name = "FaultInjected";
  }
}

interface FaultState {
  at: number;
  kill: boolean;
  pause: string | undefined;
  trace: boolean;
  count: number;
}

let state: FaultState | undefined | null = null; // null: not read yet; undefined: off

function faultState(): FaultState | undefined {
  if (state !== null) return state;
  const env = process.env;
  const at = Number(env["TETHER_FAULT_AT"] ?? "");
  const trace = env["TETHER_FAULT_TRACE"] === "1";
  state = (Number.isSafeInteger(at) && at > 0) || trace ? { at: Number.isSafeInteger(at) && at > 0 ? at : 0, kill: env["TETHER_FAULT_KILL"] === "1", pause: env["TETHER_FAULT_PAUSE"] || undefined, trace, count: 0 } : undefined;
  return state;
}

/** A point where an ADD can be made to fail; a no-op unless faults are built in and asked for. */
export function faultPoint(name: string): void {
  if (typeof __TETHER_FAULTS__ !== "undefined" && !__TETHER_FAULTS__) return;
  const s = faultState();
  if (s === undefined) return;
  s.count += 1;
  if (s.trace) process.stderr.write(`tether-fault: #${s.count} ${name}\n`);
  if (s.count === s.at) {
    if (s.kill) process.kill(process.pid, "SIGKILL");
    if (s.pause !== undefined) {
      pauseAt(s.pause);
      return;
    }
    throw new FaultInjected(s.count, name);
  }
}

function pauseAt(file: string): void {
  fs.writeFileSync(`${file}.reached`, String(process.pid));
  while (!fs.existsSync(file)) sleepSync(5);
}

/** Whether this build can inject faults at all (false in dist/tether). */
export function faultsBuiltIn(): boolean {
  return typeof __TETHER_FAULTS__ === "undefined" || __TETHER_FAULTS__;
}

/**
 * `target` with a fault point after each listed method succeeds (sync or async): the change is
 * made, then the point may fail the step as if the next one had failed. Identity when faults are
 * not built in.
 */
export function withFaultPoints<T extends object>(target: T, label: string, methods: readonly (keyof T & string)[]): T {
  if (!faultsBuiltIn()) return target;
  const wrapped = Object.create(target) as T;
  for (const m of methods) {
    const fn = target[m];
    if (typeof fn !== "function") continue;
    (wrapped as Record<string, unknown>)[m] = function (this: unknown, ...args: unknown[]): unknown {
      const out: unknown = (fn as (...a: unknown[]) => unknown).apply(target, args);
      if (out instanceof Promise) {
        return out.then((v: unknown) => {
          faultPoint(`${label}.${m}`);
          return v;
        });
      }
      faultPoint(`${label}.${m}`);
      return out;
    };
  }
  return wrapped;
}
