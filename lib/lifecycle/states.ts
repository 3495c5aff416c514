/**
 * The profile status machine as data: what each state means, the events that move a profile, and the
 * table of state × event → next state. `nextState` is the only place a next state is decided; the status
 * builders in `transitions.ts` use it, and `docs/lifecycle.md` shows the same table.
 */
import type { ProfileState } from '../profile.js';

/** What each state means to the person looking at the profile (docs/api.md "The profile view"). */
export const STATE_MEANINGS: Readonly<Record<ProfileState, string>> = {
  authorization_required:
    'No usable grant: never authorized, the tokens were discarded by an edit, or the server answered invalid_grant. A person must open a new authorization URL.',
  ready: 'A valid access token is held (the green check mark), and it is refreshed before it expires.',
  refresh_failing:
    'The last refresh failed for a passing reason (network, 5xx, 429); retries go on with backoff while the held token is still valid.',
  expired: 'The held access token has expired and refreshing keeps failing for a passing reason; retries go on with backoff.',
  error: 'The server rejected the client itself (invalid_client, unauthorized_client, a refused request): the profile must be fixed with PUT.',
};

/** Where a new profile starts: it holds no token yet. */
export const INITIAL_STATE: ProfileState = 'authorization_required';

/** What can happen to a profile. A failure's event is chosen by `failureEvent` from the one classifier's verdict. */
export const LIFECYCLE_EVENTS = {
  authorized: 'A person completed the authorization; the code was exchanged and the tokens stored.',
  refreshed: 'A refresh (or a client-credentials grant) obtained new tokens and they were stored.',
  pending_adopted: 'The token set a previous holder wrote but never committed was found in the vault and adopted.',
  staged_written: 'Tokens staged while the vault was failing were written to the vault.',
  tokens_staged: 'New tokens were obtained but the vault refused them; they are sealed in the store until the next run.',
  refresh_failed: 'A refresh failed for a passing reason (network, 5xx, 429, an unwritable vault) while the held token is still valid.',
  token_expired: 'A refresh failed for a passing reason and no valid token is held.',
  grant_rejected: 'The server no longer accepts the grant (invalid_grant on an authorization_code profile).',
  client_rejected: 'The server rejected the client or the request (invalid_client, unauthorized_client, invalid_grant on client credentials, a misconfiguration).',
  staged_write_failed: 'The vault still refuses the staged tokens, which are still valid: the state stays, the retry backs off.',
  staged_expired: 'The vault still refuses the staged tokens, and they have expired.',
  authorization_failed: 'A callback whose state matched failed (the server\'s error, a refused exchange): the state stays, lastError says why.',
  edited: 'A PUT kept the tokens, and the held token is still valid: only a profile in error is given another chance.',
  edited_token_expired: 'A PUT kept the tokens, but the held token has expired.',
  edited_no_token: 'A PUT kept the grant, but no token is held.',
  edited_discarding_tokens: 'A PUT changed the grant type, the client or the token endpoint: the tokens are discarded.',
  deleted: 'DELETE removed the profile, its secrets and its pending authorizations.',
} as const;

export type LifecycleEvent = keyof typeof LIFECYCLE_EVENTS;

/** A next state, or `gone` when the profile no longer exists. */
export type NextState = ProfileState | 'gone';

const row = (
  authorizationRequired: NextState,
  ready: NextState,
  refreshFailing: NextState,
  expired: NextState,
  error: NextState,
): Readonly<Record<ProfileState, NextState>> => ({
  authorization_required: authorizationRequired,
  ready,
  refresh_failing: refreshFailing,
  expired,
  error,
});

const AR = 'authorization_required';

/** The status machine: for each event, the next state from each current state. */
export const TRANSITIONS: Readonly<Record<LifecycleEvent, Readonly<Record<ProfileState, NextState>>>> = {
  //                          from: authorization_required  ready              refresh_failing    expired            error
  authorized:               row('ready',                   'ready',           'ready',           'ready',           'ready'),
  refreshed:                row('ready',                   'ready',           'ready',           'ready',           'ready'),
  pending_adopted:          row('ready',                   'ready',           'ready',           'ready',           'ready'),
  staged_written:           row('ready',                   'ready',           'ready',           'ready',           'ready'),
  tokens_staged:            row('ready',                   'ready',           'ready',           'ready',           'ready'),
  refresh_failed:           row('refresh_failing',         'refresh_failing', 'refresh_failing', 'refresh_failing', 'refresh_failing'),
  token_expired:            row('expired',                 'expired',         'expired',         'expired',         'expired'),
  grant_rejected:           row(AR,                        AR,                AR,                AR,                AR),
  client_rejected:          row('error',                   'error',           'error',           'error',           'error'),
  staged_write_failed:      row(AR,                        'ready',           'refresh_failing', 'expired',         'error'),
  staged_expired:           row('expired',                 'expired',         'expired',         'expired',         'expired'),
  authorization_failed:     row(AR,                        'ready',           'refresh_failing', 'expired',         'error'),
  edited:                   row(AR,                        'ready',           'refresh_failing', 'expired',         'ready'),
  edited_token_expired:     row(AR,                        'ready',           'refresh_failing', 'expired',         'expired'),
  edited_no_token:          row(AR,                        'ready',           'refresh_failing', 'expired',         AR),
  edited_discarding_tokens: row(AR,                        AR,                AR,                AR,                AR),
  deleted:                  row('gone',                    'gone',            'gone',            'gone',            'gone'),
};

/** The state a profile in `from` moves to when `event` happens. */
export function nextState(from: ProfileState, event: Exclude<LifecycleEvent, 'deleted'>): ProfileState;
export function nextState(from: ProfileState, event: LifecycleEvent): NextState;
export function nextState(from: ProfileState, event: LifecycleEvent): NextState {
  return TRANSITIONS[event][from];
}
