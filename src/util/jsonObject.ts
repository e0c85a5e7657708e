/** `text` read as a JSON object whose fields are all strings for `fields`; undefined for anything else. */
export function stringFields<const F extends string>(text: string, fields: readonly F[]): Record<F, string> | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== "object" || doc === null) return undefined;
  const o = doc as Record<string, unknown>;
  const out = {} as Record<F, string>;
  for (const f of fields) {
    const v = o[f];
    if (typeof v !== "string") return undefined;
    out[f] = v;
  }
  return out;
}
