/**
 * When a held token is due for refresh (DESIGN.md; lifecycle rules): at
 * `expiresAt − max(margin, 10% of its lifetime)`, and no later than the keep-alive deadline, so that idle
 * refresh tokens are used before the server forgets them.
 */
export interface RefreshPolicy {
  /** How often the scheduled job runs. */
  intervalSeconds: number;
  /** Refresh this long before expiry at least; never less than twice the interval. */
  marginSeconds: number;
  /** Refresh a refresh token not used for this long, even if the access token is still fresh. */
  keepAliveSeconds: number;
}

export const DEFAULT_REFRESH_POLICY: RefreshPolicy = {
  intervalSeconds: 300,
  marginSeconds: 600,
  keepAliveSeconds: 24 * 60 * 60,
};

export function refreshPolicy(input: Partial<RefreshPolicy> = {}): RefreshPolicy {
  const intervalSeconds = input.intervalSeconds ?? DEFAULT_REFRESH_POLICY.intervalSeconds;
  const marginSeconds = Math.max(input.marginSeconds ?? DEFAULT_REFRESH_POLICY.marginSeconds, 2 * intervalSeconds);
  return { intervalSeconds, marginSeconds, keepAliveSeconds: input.keepAliveSeconds ?? DEFAULT_REFRESH_POLICY.keepAliveSeconds };
}

/** The moment a token obtained at `obtainedAt` and expiring at `expiresAt` should be refreshed. */
export function nextRefreshAt(obtainedAt: number, expiresAt: number, policy: RefreshPolicy): number {
  const lifetime = Math.max(0, expiresAt - obtainedAt);
  const early = Math.max(policy.marginSeconds * 1000, lifetime / 10);
  const keepAlive = obtainedAt + policy.keepAliveSeconds * 1000;
  return Math.max(obtainedAt, Math.min(expiresAt - early, keepAlive));
}

/** Seconds until `status.nextRefreshAt` (at least 1), or `undefined` when nothing is scheduled. */
export function secondsUntilNextRefresh(status: { nextRefreshAt: string | null }, now: number): number | undefined {
  const next = status.nextRefreshAt ? Date.parse(status.nextRefreshAt) : NaN;
  return Number.isNaN(next) ? undefined : Math.max(1, Math.ceil((next - now) / 1000));
}
