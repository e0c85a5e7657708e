/**
 * Text that came from outside (store files, environment, records) as it may appear in a message or
 * a listing: quoted, control and non-printing characters escaped, and cut to a length a person can
 * read. The cut says how much was left out, so nothing is silently passed off as the whole.
 */
const DEFAULT_MAX = 80;

/** A JSON-style quoted string of at most about `max` characters of `text`. */
export function quoteForeign(text: string | Buffer, max: number = DEFAULT_MAX): string {
  const s = typeof text === "string" ? text : text.toString("utf8");
  const chars = Array.from(s);
  const shown = chars.length > max ? chars.slice(0, max).join("") : s;
  const quoted = escapeForeign(shown);
  return chars.length > max ? `"${quoted}"… (${chars.length - max} more characters)` : `"${quoted}"`;
}

/** Escape what a terminal would act on or hide: C0/C1 controls, DEL, quotes, backslash, lone surrogates, bidi controls. */
export function escapeForeign(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f"\\\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffd]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (c) => {
    switch (c) {
      case '"':
        return '\\"';
      case "\\":
        return "\\\\";
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default:
        return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
    }
  });
}

/** A listing cell: unquoted when plain printable text, else quoted and cut as above. */
export function listingText(text: string, max: number = DEFAULT_MAX): string {
  return /^[\x21-\x7e]*$/.test(text) && text.length <= max && text !== "" ? text : quoteForeign(text, max);
}

/** A line of a report: control characters escaped (quotes kept), cut at `max` characters. */
export function printable(text: string, max = 1000): string {
  const chars = Array.from(text);
  const cut = chars.length > max ? chars.slice(0, max).join("") + `… (${chars.length - max} more characters)` : text;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
