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

/** docs/api.md: a token living less than a minute is scheduled as if it lived a minute. */
export const MIN_SCHEDULED_LIFETIME_MS = 60_000;
/** The shortest time between two refreshes of a profile, whatever its tokens' lifetime. */
export const MIN_REFRESH_GAP_MS = 30_000;

/**
 * How long after a token was obtained the next refresh may start (docs/api.md "bounded refreshing"):
 * max(30 s, 10 % of its lifetime), lifetimes under a minute counted as a minute. A server issuing
 * `expires_in: 0` is therefore asked at most twice a minute, by the schedule and by token requests alike.
 */
export function minimumRefreshGapMs(lifetimeMs: number): number {
  return Math.max(MIN_REFRESH_GAP_MS, Math.max(MIN_SCHEDULED_LIFETIME_MS, lifetimeMs) / 10);
}

/**
 * The moment a token obtained at `obtainedAt` and expiring at `expiresAt` should be refreshed: never
 * sooner than {@link minimumRefreshGapMs} after it was obtained.
 */
export function nextRefreshAt(obtainedAt: number, expiresAt: number, policy: RefreshPolicy): number {
  const lifetime = Math.max(MIN_SCHEDULED_LIFETIME_MS, expiresAt - obtainedAt);
  const early = Math.max(policy.marginSeconds * 1000, lifetime / 10);
  const keepAlive = obtainedAt + policy.keepAliveSeconds * 1000;
  return Math.max(obtainedAt + minimumRefreshGapMs(lifetime), Math.min(obtainedAt + lifetime - early, keepAlive));
}

/** Seconds until `status.nextRefreshAt` (at least 1), or `undefined` when nothing is scheduled. */
export function secondsUntilNextRefresh(status: { nextRefreshAt: string | null }, now: number): number | undefined {
  const next = status.nextRefreshAt ? Date.parse(status.nextRefreshAt) : NaN;
  return Number.isNaN(next) ? undefined : Math.max(1, Math.ceil((next - now) / 1000));
}
