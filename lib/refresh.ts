/**
 * Refreshing tokens, the entry point: builds the `Refresher` (lib/refresh/refresher.ts) from the broker's
 * dependencies. The parts live beside it: the lease (lib/refresh/lease.ts), the recovery of sets an
 * earlier holder left (lib/refresh/recovery.ts), the one retry helper and the one timing value.
 */
import type * as oauth from 'oauth4webapi';
import type { ClientSecrets } from './client-secrets.js';
import type { StatusEvents } from './events.js';
import type { RefreshPolicy } from './lifecycle/timing.js';
import type { Log } from './logger.js';
import type { OAuthOptions } from './oauth.js';
import type { Clock, ProfileStore, SecretVault, TokenSet } from './ports.js';
import type { ProfileRecord } from './profile.js';
import { Refresher } from './refresh/refresher.js';
import type { RefreshTiming } from './refresh/timing.js';

export { Refresher, type RefreshRequest } from './refresh/refresher.js';
export type { RefreshOutcome, RefreshResult } from './lifecycle/outcome.js';
export type { RefreshTrigger } from './lifecycle/decisions.js';

export interface RefresherDependencies {
  store: ProfileStore;
  vault: SecretVault;
  clock: Clock;
  logger: Log;
  events: StatusEvents;
  policy: RefreshPolicy;
  oauth: OAuthOptions;
  authorizationServer: (record: ProfileRecord) => Promise<oauth.AuthorizationServer>;
  /** The per-container client-secret cache (shared with the profile use cases). */
  secrets: ClientSecrets;
  /** Lease, waits, attempts and the grant's time budget (lib/refresh/timing.ts). */
  timing: RefreshTiming;
  /** Injected so that tests never wait on real time. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Best-effort revocation of tokens obtained for a profile deleted meanwhile. */
  revoke: (record: ProfileRecord, tokens: TokenSet, clientSecret: string | undefined) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createRefresher(deps: RefresherDependencies): Refresher {
  return new Refresher({
    ...deps,
    sleep: deps.sleep ?? realSleep,
    random: deps.random ?? Math.random,
  });
}
