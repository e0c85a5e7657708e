/** IPAM delegation's own error: the delegated plugin ran but its result is unusable (CNI code 105, src/cni/mapError.ts). */
export class DelegateError extends Error {
  override readonly name = "DelegateError";
}
