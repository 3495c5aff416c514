/**
 * The refresh-timing policy: when a held token is due (`nextRefreshAt`: early enough before expiry, and
 * no later than the keep-alive), how long to back off after a passing failure, and the settings that tune
 * both. Pure functions of their inputs: time and randomness are passed in.
 */
import { MAX_RETRY_AFTER_SECONDS } from '../shared.js';

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

/** The policy with defaults filled in; the margin is raised to two intervals so no run can miss a token. */
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
 * The moment a token obtained at `obtainedAt` and expiring at `expiresAt` should be refreshed:
 * `expiresAt − max(margin, 10 % of its lifetime)`, but no later than the keep-alive deadline (so that an
 * idle refresh token is used before the server forgets it) and never sooner than
 * {@link minimumRefreshGapMs} after it was obtained.
 */
export function nextRefreshAt(obtainedAt: number, expiresAt: number, policy: RefreshPolicy): number {
  const lifetime = Math.max(MIN_SCHEDULED_LIFETIME_MS, expiresAt - obtainedAt);
  const early = Math.max(policy.marginSeconds * 1000, lifetime / 10);
  const keepAlive = obtainedAt + policy.keepAliveSeconds * 1000;
  return Math.max(obtainedAt + minimumRefreshGapMs(lifetime), Math.min(obtainedAt + lifetime - early, keepAlive));
}

/**
 * docs/api.md "bounded refreshing": the earliest moment a token request may start another refresh of a
 * profile: max(30 s, 10 % of the held token's lifetime) after the later of the last grant started (by any
 * instance, recorded on the profile) and the moment the held token was obtained.
 */
export function refreshNotBefore(
  record: { lastGrantAt?: string | undefined },
  held: { obtainedAt: string; expiresAt: string } | undefined,
): number {
  const obtainedAt = held ? Date.parse(held.obtainedAt) : NaN;
  const lastGrant = record.lastGrantAt ? Date.parse(record.lastGrantAt) : NaN;
  const starts = [obtainedAt, lastGrant].filter((t) => Number.isFinite(t));
  if (starts.length === 0) return -Infinity;
  const lifetime = held ? Math.max(0, Date.parse(held.expiresAt) - obtainedAt) : 0;
  return Math.max(...starts) + minimumRefreshGapMs(Number.isFinite(lifetime) ? lifetime : 0);
}

/** Seconds until `status.nextRefreshAt` (at least 1), or `undefined` when nothing is scheduled. */
export function secondsUntilNextRefresh(status: { nextRefreshAt: string | null }, now: number): number | undefined {
  const next = status.nextRefreshAt ? Date.parse(status.nextRefreshAt) : NaN;
  return Number.isNaN(next) ? undefined : Math.max(1, Math.ceil((next - now) / 1000));
}

/** Whether a refresh is scheduled at or before `now`. */
export function isDue(status: { nextRefreshAt: string | null }, now: number): boolean {
  const next = status.nextRefreshAt;
  return next !== null && Date.parse(next) <= now;
}

/**
 * Backoff after passing failures: 30 s doubling to 1 h, with ±20 % jitter, never sooner than `Retry-After`,
 * and never later than 1 h whatever the jitter or the server asked (docs/api.md).
 */
export const BACKOFF_BASE_MS = 30_000;
export const BACKOFF_CAP_MS = 60 * 60_000;

/** How long to wait after the `consecutiveFailures`-th passing failure in a row. */
export function backoffMs(consecutiveFailures: number, retryAfterSeconds: number | undefined, random: () => number = Math.random): number {
  const exponential = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, consecutiveFailures - 1));
  const jittered = exponential * (0.8 + 0.4 * random());
  const asked = Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(0, retryAfterSeconds ?? 0)) * 1000;
  return Math.min(BACKOFF_CAP_MS, Math.max(jittered, asked));
}

/** The environment variables that tune the policy, and the policy field each sets. */
export const REFRESH_SETTINGS = {
  BROKER_REFRESH_INTERVAL_SECONDS: 'intervalSeconds',
  BROKER_REFRESH_MARGIN_SECONDS: 'marginSeconds',
  BROKER_KEEP_ALIVE_SECONDS: 'keepAliveSeconds',
} as const satisfies Record<string, keyof RefreshPolicy>;

/**
 * Reads the policy's settings from the environment: each a positive whole number of seconds, unset or
 * empty for the default. Returns what was set and one sentence per bad value (the caller refuses to start).
 */
export function readRefreshSettings(env: NodeJS.ProcessEnv): { policy: Partial<RefreshPolicy>; problems: string[] } {
  const policy: Partial<RefreshPolicy> = {};
  const problems: string[] = [];
  for (const [name, key] of Object.entries(REFRESH_SETTINGS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (!/^\d+$/.test(raw) || Number(raw) <= 0) problems.push(`${name} must be a positive whole number of seconds.`);
    else policy[key] = Number(raw);
  }
  return { policy, problems };
}
