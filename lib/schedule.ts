/**
 * Kept for existing imports: the refresh-timing policy lives in `lib/lifecycle/timing.ts`.
 */
export {
  DEFAULT_REFRESH_POLICY,
  nextRefreshAt,
  refreshPolicy,
  secondsUntilNextRefresh,
  type RefreshPolicy,
} from './lifecycle/timing.js';
