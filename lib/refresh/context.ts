/**
 * What every part of a refresh works with: the ports, the clock, the policies, the OAuth client and the
 * status signal. Built once per broker by the `Refresher`.
 */
import type * as oauth from 'oauth4webapi';
import type { ClientSecrets } from '../client-secrets.js';
import type { StatusEvents } from '../events.js';
import type { Moment } from '../lifecycle/transitions.js';
import type { RefreshPolicy } from '../lifecycle/timing.js';
import type { Log } from '../logger.js';
import type { OAuthOptions } from '../oauth.js';
import type { Clock, ProfileStore, SecretVault, TokenSet } from '../ports.js';
import type { ProfileRecord, ProfileStatus } from '../profile.js';
import type { RefreshTiming } from './timing.js';

export interface RefreshContext {
  store: ProfileStore;
  vault: SecretVault;
  secrets: ClientSecrets;
  clock: Clock;
  logger: Log;
  events: StatusEvents;
  policy: RefreshPolicy;
  timing: RefreshTiming;
  oauth: OAuthOptions;
  authorizationServer: (record: ProfileRecord) => Promise<oauth.AuthorizationServer>;
  /** Best-effort revocation of tokens obtained for a profile deleted meanwhile. */
  revoke: (record: ProfileRecord, tokens: TokenSet, clientSecret: string | undefined) => Promise<void>;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

/** Now, for the status builders. */
export function moment(ctx: RefreshContext): Moment {
  return { now: ctx.clock(), policy: ctx.policy, random: ctx.random };
}

/** Signals a change of state (nothing when the state stayed). */
export async function signal(ctx: RefreshContext, before: ProfileRecord, status: ProfileStatus): Promise<void> {
  if (before.status.state !== status.state) {
    await ctx.events.statusChanged({ profileId: before.id, from: before.status.state, to: status.state, lastError: status.lastError });
  }
}
