/**
 * Child-process helper for the attachment lock tests (run with node):
 *   lock <root> <network> <keys> <rounds>   withAttachmentLock on a random key of <keys>, round after round
 *   sweep <root> <network> <keys> <rounds>  GC's removeStaleLocks, then tryAttachmentLock on a random key
 *   hold <root> <network> <containerId>     take one attachment's lock, print "locked", hold it until stdin ends
 * Inside each lock it proves exclusion: it creates <root>/held-<key> with O_EXCL and removes it on the
 * way out; a second holder of one key would find the file there. Prints {"rounds", "violations"}.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { removeStaleLocks, tryAttachmentLock, withAttachmentLock } from "../../src/plugins/attachmentLock";
import type { AttachmentKey } from "../../src/firewall/key";
import { sleepSync } from "../../src/util/sleep";

function out(value: unknown): void {
  fs.writeSync(1, `${JSON.stringify(value)}\n`);
}

let violations = 0;

function exclusive(root: string, key: AttachmentKey): void {
  const marker = join(root, `held-${key.containerId}`);
  try {
    fs.closeSync(fs.openSync(marker, "wx"));
  } catch {
    violations++;
    return;
  }
  sleepSync(Math.random() < 0.5 ? 0 : 1);
  fs.unlinkSync(marker);
}

async function main(argv: string[]): Promise<void> {
  const [cmd, root, network, third, fourth] = argv;
  if (root === undefined || network === undefined || third === undefined) throw new Error(`usage: ${argv.join(" ")}`);
  if (cmd === "hold") {
    const key = { network, containerId: third, ifname: "eth0" };
    await withAttachmentLock(
      key,
      async () => {
        out("locked");
        await new Promise<void>((resolve) => {
          process.stdin.on("end", resolve);
          process.stdin.resume();
        });
      },
      () => true,
      { root },
    );
    return;
  }
  const keys = Array.from({ length: Number(third) }, (_, i) => ({ network, containerId: `c${i}`, ifname: "eth0" }));
  const rounds = Number(fourth);
  const pick = (): AttachmentKey => keys[Math.floor(Math.random() * keys.length)]!;
  for (let i = 0; i < rounds; i++) {
    const key = pick();
    if (cmd === "lock") {
      // Most calls remove their file on the way out; some keep it, as a killed call would leave it.
      await withAttachmentLock(key, async () => exclusive(root, key), () => Math.random() < 0.8, { root, timeoutMs: 60_000 });
    } else if (cmd === "sweep") {
      removeStaleLocks(network, [], root);
      const held = tryAttachmentLock(key, { root });
      if (held !== undefined) {
        exclusive(root, key);
        held.release(Math.random() < 0.5);
      }
    } else throw new Error(`usage: ${argv.join(" ")}`);
  }
  out({ rounds, violations });
}

main(process.argv.slice(2)).catch((e: unknown) => {
  out({ error: String(e) });
  process.exitCode = 1;
});
