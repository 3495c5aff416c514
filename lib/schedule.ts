/**
 * Kept for existing imports: the refresh-timing policy lives in `lib/lifecycle/timing.ts`.
 */
export {
  DEFAULT_REFRESH_POLICY,
  MIN_REFRESH_GAP_MS,
  MIN_SCHEDULED_LIFETIME_MS,
  minimumRefreshGapMs,
  nextRefreshAt,
  refreshPolicy,
  secondsUntilNextRefresh,
  type RefreshPolicy,
} from './lifecycle/timing.js';
