/** The whole of a CNI VERSION call: stdin in, the reply out. The cheapest path of all (runtimes ask it often). */
import { readAllStdin, writeAll } from "./stdio";
import { versionReply } from "./version";

export function answerVersion(): void {
  let stdin: Buffer | undefined;
  try {
    stdin = readAllStdin();
  } catch {
    stdin = undefined;
  }
  writeAll(1, versionReply(stdin));
}
