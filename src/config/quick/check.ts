/**
 * The few zod/mini parsers tether's schemas use, re-done for the accepting path only: each check
 * returns what zod's parse returns for a value it accepts (the same defaults, key order and shared
 * references), and NO for anything else. NO is never an error: the caller then parses with zod, whose
 * issues make the message. So these checks may refuse more than zod does (a key named __proto__, an
 * object that did not come from JSON), never less; test/unit/config-quick.test.ts compares them.
 */

/** "Not accepted here": let zod decide. */
export const NO: unique symbol = Symbol("not accepted by the quick check");
export type No = typeof NO;

export type Check<T> = (v: unknown) => T | No;

/** A key of an object schema: required, optional (z.optional), or with a default (z._default). */
export type Field<T> = Check<T> | { readonly optional: Check<T> } | { readonly check: Check<T>; readonly fallback: T };

/** What JSON.parse (and a spread of its objects) makes: an object with the plain prototype. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

export const string: Check<string> = (v) => (typeof v === "string" ? v : NO);

/** z.string().check(z.refine(test)) */
export const stringWhere =
  (test: (s: string) => boolean): Check<string> =>
  (v) =>
    typeof v === "string" && test(v) ? v : NO;

export const boolean: Check<boolean> = (v) => (typeof v === "boolean" ? v : NO);

/** z.number().check(z.int(), z.gte(min), z.lte(max)), bounds within the safe integers. */
export const intIn =
  (min: number, max: number): Check<number> =>
  (v) =>
    typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? v : NO;

/** z.enum / z.literal */
export const oneOf =
  <T extends string>(values: readonly T[]): Check<T> =>
  (v) =>
    (values as readonly unknown[]).includes(v) ? (v as T) : NO;

/** z.unknown(): the value itself (undefined does not come from JSON: left to zod). */
export const unknown: Check<unknown> = (v) => (v === undefined ? NO : v);

/** z.union([z.boolean(), z.pipe(z.enum(["true", "false"]), z.transform((s) => s === "true"))]) */
export const looseBool: Check<boolean> = (v) => (typeof v === "boolean" ? v : v === "true" ? true : v === "false" ? false : NO);

export const optional = <T>(check: Check<T>): Field<T> => ({ optional: check });

/** z._default(check, fallback) for a fallback that is a primitive (zod hands out the very value). */
export const withDefault = <T>(check: Check<T>, fallback: T): Field<T> => ({ check, fallback });

export const array =
  <T>(element: Check<T>): Check<T[]> =>
  (v) => {
    if (!Array.isArray(v)) return NO;
    const out: T[] = [];
    for (const item of v as unknown[]) {
      const r = element(item);
      if (r === NO) return NO;
      out.push(r);
    }
    return out;
  };

/** z.record(z.string(), value) */
export const record =
  <T>(value: Check<T>): Check<Record<string, T>> =>
  (v) => {
    if (!isPlainObject(v)) return NO;
    const out: Record<string, T> = {};
    for (const key of Object.keys(v)) {
      if (key === "__proto__") return NO;
      const r = value(v[key]);
      if (r === NO) return NO;
      out[key] = r;
    }
    return out;
  };

/** z.pipe(z.transform(f), next) */
export const pipe =
  <T>(f: (v: unknown) => unknown, next: Check<T>): Check<T> =>
  (v) =>
    next(f(v));

/**
 * z.looseObject(shape) (unknown keys kept, after the shape's, in the input's order) or, with
 * `strict`, z.strictObject(shape) (an unknown key is NO). The shape's keys come first, in the
 * shape's order, as zod writes them; an absent optional key stays absent, an absent defaulted one
 * gets its default.
 */
export function object(shape: Record<string, Field<unknown>>, strict = false): Check<Record<string, unknown>> {
  const keys = Object.keys(shape);
  return (v) => {
    if (!isPlainObject(v)) return NO;
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const field = shape[key]!;
      if (!Object.hasOwn(v, key)) {
        if (typeof field === "function") return NO; // required
        if ("fallback" in field) out[key] = field.fallback;
        continue;
      }
      const value = v[key];
      if (value === undefined) return NO;
      const r = typeof field === "function" ? field(value) : "optional" in field ? field.optional(value) : field.check(value);
      if (r === NO) return NO;
      out[key] = r;
    }
    for (const key of Object.keys(v)) {
      if (Object.hasOwn(shape, key)) continue;
      const value = v[key];
      if (strict || key === "__proto__" || value === undefined) return NO;
      out[key] = value;
    }
    return out;
  };
}

/**
 * For tests only (product code never sets these): `enabled: false` sends every config to zod;
 * `observe` sees each input a quick check got and what it returned (test/unit/config-quick.test.ts
 * compares that with zod's result for every config the unit tests use).
 */
export const quickChecks: { enabled: boolean; observe?: (name: string, input: unknown, out: unknown) => void } = { enabled: true };

/** Run a check; NO also when it threw (zod then runs and decides what that input deserves). */
export function quick<T>(name: string, check: Check<T>, v: unknown): T | No {
  if (!quickChecks.enabled) return NO;
  let out: T | No;
  try {
    out = check(v);
  } catch {
    out = NO;
  }
  quickChecks.observe?.(name, v, out);
  return out;
}
