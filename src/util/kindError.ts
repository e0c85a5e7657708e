/** The base of the layers' error classes: a kind the layer names (src/cni/mapError.ts maps it to a CNI code) and a message. */
export class KindError<K extends string> extends Error {
  constructor(
    readonly kind: K,
    msg: string,
    options?: { cause?: unknown },
  ) {
    super(msg, options);
  }
}
