/**
 * End of life of the Node.js release lines tether may carry inside its single executable (the one
 * place for these dates: `tether version` prints them, test/unit/node-support.test.ts fails once
 * the Node pinned in package.json is past its date). Source: the Node.js release schedule.
 */
export const NODE_END_OF_LIFE: Readonly<Record<number, string>> = {
  20: "2026-04-30",
  22: "2027-04-30",
  24: "2028-04-30",
};

/** The major of a version such as "v24.22.3" or "24.22.3". */
export function nodeMajor(version: string): number {
  return Number(version.replace(/^v/, "").split(".")[0]);
}

/** The end-of-life date (YYYY-MM-DD) of a Node version's line, or undefined when unknown. */
export function nodeEndOfLife(version: string): string | undefined {
  return NODE_END_OF_LIFE[nodeMajor(version)];
}

/** True when `version`'s line is past its end of life at `now` (unknown lines count as past). */
export function nodePastEndOfLife(version: string, now: Date): boolean {
  const eol = nodeEndOfLife(version);
  return eol === undefined || now.getTime() >= Date.parse(`${eol}T00:00:00Z`) + 86_400_000;
}
