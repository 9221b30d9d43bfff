/** Who made a request: the caller its API key names (`anonymous` while AUTH_DISABLED=true). */
export interface Caller {
  readonly name: string;
  /** Listed in ADMIN_CALLERS: sees and acts on every caller's batches. */
  readonly admin: boolean;
}
