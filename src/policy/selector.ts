/**
 * Label selectors (metav1.LabelSelector): matchLabels and matchExpressions ANDed together.
 * An empty selector ({}) matches everything; whether an absent selector means "all" or "none"
 * depends on where it sits, so callers decide that (see normalize.ts).
 */
import type { LabelSelector } from "../k8s/types";

export type Labels = Readonly<Record<string, string>>;

/** A selector in a form that is cheap to evaluate many times; `invalid` matches nothing. */
export interface CompiledSelector {
  readonly key: string;
  readonly matches: (labels: Labels) => boolean;
  readonly invalid?: string;
}

const MATCH_ALL: CompiledSelector = { key: "{}", matches: () => true };

/** A canonical text of a selector: equal selectors get equal keys whatever their field order. */
export function selectorKey(sel: LabelSelector): string {
  const labels = Object.entries(sel.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const exprs = (sel.matchExpressions ?? [])
    .map((e) => `${e.key} ${e.operator} (${[...new Set(e.values ?? [])].sort().join(",")})`)
    .sort();
  if (labels.length === 0 && exprs.length === 0) return "{}";
  return `{${labels.map(([k, v]) => `${k}=${v}`).join(",")}${exprs.length > 0 ? `;${exprs.join(";")}` : ""}}`;
}

export function compileSelector(sel: LabelSelector): CompiledSelector {
  const key = selectorKey(sel);
  if (key === "{}") return MATCH_ALL;
  const tests: ((labels: Labels) => boolean)[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) tests.push((l) => l[k] === v);
  for (const e of sel.matchExpressions ?? []) {
    const values = new Set(e.values ?? []);
    const has = (l: Labels): boolean => Object.prototype.hasOwnProperty.call(l, e.key);
    switch (e.operator) {
      case "In":
        if (values.size === 0) return invalid(key, `operator In on key ${e.key} needs values`);
        tests.push((l) => has(l) && values.has(l[e.key] as string));
        break;
      case "NotIn":
        if (values.size === 0) return invalid(key, `operator NotIn on key ${e.key} needs values`);
        tests.push((l) => !has(l) || !values.has(l[e.key] as string));
        break;
      case "Exists":
        if (values.size > 0) return invalid(key, `operator Exists on key ${e.key} takes no values`);
        tests.push(has);
        break;
      case "DoesNotExist":
        if (values.size > 0) return invalid(key, `operator DoesNotExist on key ${e.key} takes no values`);
        tests.push((l) => !has(l));
        break;
      default:
        return invalid(key, `unknown operator ${String((e as { operator: unknown }).operator)} on key ${e.key}`);
    }
  }
  return { key, matches: (labels) => tests.every((t) => t(labels)) };
}

function invalid(key: string, why: string): CompiledSelector {
  return { key, matches: () => false, invalid: why };
}

/** One-off evaluation (tests, small callers). */
export function matchesSelector(sel: LabelSelector, labels: Labels): boolean {
  return compileSelector(sel).matches(labels);
}
