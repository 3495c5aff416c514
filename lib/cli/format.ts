/**
 * Human output of the CLI: marks, durations and aligned tables.
 */
import type { ProfileStatus, ProfileView } from '../profile.js';

export const READY_MARK = '✓';
export const NOT_READY_MARK = '✗';

/** ✓ only for `ready`, the seed's green check mark. */
export function mark(state: string): string {
  return state === 'ready' ? READY_MARK : NOT_READY_MARK;
}

/** `45s`, `59m`, `2h 5m`, `3d 4h`. Durations are floored, so a 3599-second token shows `59m`. */
export function formatDuration(milliseconds: number): string {
  const seconds = Math.max(0, Math.floor(milliseconds / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours}h ${minutes % 60}m` : `${hours}h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days}d ${hours % 24}h` : `${days}d`;
}

/** Time left until the access token expires: `59m`, `expired`, or `-` when no token is held. */
export function timeToExpiry(status: Pick<ProfileStatus, 'accessTokenExpiresAt'>, now: number): string {
  if (!status.accessTokenExpiresAt) return '-';
  const left = Date.parse(status.accessTokenExpiresAt) - now;
  if (Number.isNaN(left)) return '-';
  return left <= 0 ? 'expired' : formatDuration(left);
}

export function secondsToExpiry(status: Pick<ProfileStatus, 'accessTokenExpiresAt'>, now: number): number | null {
  if (!status.accessTokenExpiresAt) return null;
  const left = Date.parse(status.accessTokenExpiresAt) - now;
  return Number.isNaN(left) ? null : Math.max(0, Math.floor(left / 1000));
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => [...(row[column] ?? '')].length)));
  return all
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell + ' '.repeat((widths[column] ?? 0) - [...cell].length)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The status table of `oauth-broker status`. */
export function statusTable(profiles: readonly ProfileView[], now: number): string {
  return table(
    [' ', 'PROFILE', 'STATE', 'EXPIRES IN', 'LAST ERROR'],
    profiles.map((p) => [mark(p.status.state), p.id, p.status.state, timeToExpiry(p.status, now), lastErrorCell(p.status.lastError)]),
  );
}

/** `invalid_client: <the server's sentence>`, or `-`: the last column, so the sentence may be long. */
export function lastErrorCell(lastError: ProfileStatus['lastError']): string {
  return lastError ? `${lastError.code}: ${lastError.message}` : '-';
}

/** The summary of one profile for `profiles get`. */
export function profileDetails(view: ProfileView, now: number): string {
  const { status } = view;
  const expiry = timeToExpiry(status, now);
  const client =
    view.clientAuthMethod === 'none'
      ? `${view.clientId} (public client, no secret)`
      : view.clientAuthMethod === 'private_key_jwt'
        ? `${view.clientId} (private_key_jwt, ${view.signingKey ? `key ${view.signingKey.alg} ${view.signingKey.kid}` : 'no signing key'})`
        : `${view.clientId} (${view.hasClientSecret ? 'secret set' : 'NO SECRET'}, ${view.clientAuthMethod})`;
  const params = (map: Record<string, string>) =>
    Object.keys(map).length ? Object.entries(map).map(([k, v]) => `${k}=${v}`).join(' ') : '-';
  const lines: [string, string][] = [
    ['Profile', view.id],
    ['State', `${mark(status.state)} ${status.state}${expiry === '-' ? '' : ` (access token ${expiry === 'expired' ? 'expired' : `expires in ${expiry}`})`}`],
    ['Grant', view.grantType],
    ...(view.grantType === 'authorization_code' ? ([['Authorization URL', view.authorizationUrl ?? '(discovered)']] as [string, string][]) : []),
    ['Token URL', view.tokenUrl ?? '(discovered)'],
    ['Issuer', view.issuer ?? '-'],
    ['Client', client],
    ['Scope', view.scope ?? '-'],
    ...(view.grantType === 'authorization_code'
      ? ([
          ['PKCE', view.usePkce ? 'S256' : 'off'],
          ['Authorization params', params(view.authorizationParams)],
        ] as [string, string][])
      : []),
    ['Token params', params(view.tokenParams)],
    ['Callback URL', view.callbackUrl],
    ['Refresh token', status.hasRefreshToken ? 'held' : 'none'],
    ['Last authorized', status.lastAuthorizedAt ?? '-'],
    ['Last refresh', status.lastRefreshAt ?? '-'],
    ['Next refresh', status.nextRefreshAt ?? '-'],
    [
      'Last error',
      status.lastError
        ? `${status.lastError.code}: ${status.lastError.message} (${status.lastError.at}${status.consecutiveFailures > 1 ? `, ${status.consecutiveFailures} failures in a row` : ''})`
        : '-',
    ],
    ['Updated', view.updatedAt],
  ];
  const width = Math.max(...lines.map(([label]) => label.length));
  return lines.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

/** The table of `profiles list`. */
export function profilesTable(profiles: readonly ProfileView[]): string {
  return table(
    [' ', 'PROFILE', 'GRANT', 'STATE', 'CLIENT ID', 'SCOPE'],
    profiles.map((p) => [mark(p.status.state), p.id, p.grantType, p.status.state, p.clientId, p.scope ?? '-']),
  );
}
