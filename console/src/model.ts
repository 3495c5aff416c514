/**
 * The console's pure logic, without the DOM: the profile form's values to and from the contract's
 * profile view and `PUT /profiles/{id}` body (docs/api.md), extra parameters as `key=value` lines or
 * JSON, and the contract's error messages sorted to the fields they name.
 */
import type { ProfileView } from '../../lib/profile.js';

/** The profile view as the API answers it (docs/api.md "The profile view"): the broker's own type. */
export type { ProfileView };

/**
 * How often the console re-reads the list: a ✓ after consent in another tab shows within this plus one
 * request, inside docs/api.md's "within 5 seconds, without a reload".
 */
export const POLL_INTERVAL_MS = 2000;

/** The form's fields, named like the contract's body fields (plus `id`). */
export const FIELDS = [
  'id',
  'authorizationUrl',
  'tokenUrl',
  'clientId',
  'clientSecret',
  'scope',
  'issuer',
  'grantType',
  'clientAuthMethod',
  'usePkce',
  'authorizationParams',
  'tokenParams',
  'defaultTokenLifetimeSeconds',
  'revocationUrl',
] as const;

export type FieldName = (typeof FIELDS)[number];

export interface FormValues {
  id: string;
  authorizationUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  issuer: string;
  grantType: string;
  clientAuthMethod: string;
  usePkce: boolean;
  authorizationParams: string;
  tokenParams: string;
  defaultTokenLifetimeSeconds: string;
  revocationUrl: string;
}

export type FieldErrors = Partial<Record<FieldName, string>>;

export function emptyValues(): FormValues {
  return {
    id: '',
    authorizationUrl: '',
    tokenUrl: '',
    clientId: '',
    clientSecret: '',
    scope: '',
    issuer: '',
    grantType: 'authorization_code',
    clientAuthMethod: 'client_secret_basic',
    usePkce: true,
    authorizationParams: '',
    tokenParams: '',
    defaultTokenLifetimeSeconds: '',
    revocationUrl: '',
  };
}

/** The form for a stored profile. The client secret stays empty: the API never returns it. */
export function valuesFromView(view: ProfileView): FormValues {
  return {
    id: view.id,
    authorizationUrl: view.authorizationUrl ?? '',
    tokenUrl: view.tokenUrl ?? '',
    clientId: view.clientId,
    clientSecret: '',
    scope: view.scope ?? '',
    issuer: view.issuer ?? '',
    grantType: view.grantType,
    clientAuthMethod: view.clientAuthMethod,
    usePkce: view.usePkce,
    authorizationParams: formatParams(view.authorizationParams),
    tokenParams: formatParams(view.tokenParams),
    defaultTokenLifetimeSeconds: String(view.defaultTokenLifetimeSeconds),
    revocationUrl: view.revocationUrl ?? '',
  };
}

/** `key=value` lines, the way a person types them. */
export function formatParams(params: Record<string, string> | null | undefined): string {
  return Object.entries(params ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
}

/**
 * Extra parameters typed as `key=value` lines or as a JSON object. Answers the object, or a sentence
 * saying what to fix. Values are passed on as typed: the API checks them (and names reserved ones).
 */
export function parseParams(text: string): { params: Record<string, unknown> } | { problem: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { params: {} };
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch {
      return { problem: 'This is not valid JSON: write a JSON object, or one key=value per line.' };
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return { problem: 'Write a JSON object, or one key=value per line.' };
    return { params: json as Record<string, unknown> };
  }
  const params: Record<string, string> = {};
  for (const [index, raw] of trimmed.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return { problem: `Line ${index + 1} is not key=value.` };
    const key = line.slice(0, eq).trim();
    if (key in params) return { problem: `"${key}" is given twice.` };
    params[key] = line.slice(eq + 1).trim();
  }
  return { params };
}

/**
 * The `PUT /profiles/{id}` body for the form's values: empty optional fields are left out (the stored
 * profile is replaced), an empty Client Secret keeps the stored one. Problems the API cannot see (extra
 * parameters that are neither lines nor JSON) come back as field errors instead.
 */
export function bodyFromValues(
  values: FormValues,
  stored?: Pick<ProfileView, 'clientAssertionAlgorithm' | 'clientAssertionAudience'>,
): { body: Record<string, unknown> } | { errors: FieldErrors } {
  const body: Record<string, unknown> = { grantType: values.grantType, clientAuthMethod: values.clientAuthMethod };
  // PUT replaces the profile: a private_key_jwt profile's assertion settings go back as they were stored.
  if (values.clientAuthMethod === 'private_key_jwt') {
    if (stored?.clientAssertionAlgorithm) body.clientAssertionAlgorithm = stored.clientAssertionAlgorithm;
    if (stored?.clientAssertionAudience) body.clientAssertionAudience = stored.clientAssertionAudience;
  }
  const text = (name: 'authorizationUrl' | 'tokenUrl' | 'issuer' | 'scope' | 'revocationUrl') => {
    const value = values[name].trim();
    if (value !== '') body[name] = value;
  };
  if (values.grantType !== 'client_credentials') text('authorizationUrl');
  text('tokenUrl');
  text('issuer');
  text('scope');
  text('revocationUrl');
  body.clientId = values.clientId.trim();
  // Sent as typed (no trimming): a secret may end in a space.
  if (values.clientSecret !== '') body.clientSecret = values.clientSecret;
  body.usePkce = values.usePkce;
  const lifetime = values.defaultTokenLifetimeSeconds.trim();
  // A number when it reads as one; else the text, so that the API's message says what is wrong.
  if (lifetime !== '') body.defaultTokenLifetimeSeconds = /^-?\d+(\.\d+)?$/.test(lifetime) ? Number(lifetime) : lifetime;

  const errors: FieldErrors = {};
  for (const name of ['authorizationParams', 'tokenParams'] as const) {
    const parsed = parseParams(values[name]);
    if ('problem' in parsed) errors[name] = parsed.problem;
    else if (Object.keys(parsed.params).length > 0) body[name] = parsed.params;
  }
  return Object.keys(errors).length > 0 ? { errors } : { body };
}

/** Words in the API's messages that name a field of the form (the body's field names, and the id). */
const FIELD_WORDS: [RegExp, FieldName][] = [
  [/\bprofile id\b/i, 'id'],
  ...FIELDS.filter((name) => name !== 'id').map((name): [RegExp, FieldName] => [new RegExp(`\\b${name}\\b`), name]),
];

/**
 * The contract's `invalid_request` message, split into its problems (`The profile is invalid: a; b.`)
 * and sorted to the field each names first; problems naming no field stay with the action.
 */
export function errorsByField(message: string): { fields: FieldErrors; other: string[] } {
  const fields: FieldErrors = {};
  const other: string[] = [];
  const prefix = /^The profile is invalid:\s*/;
  const problems = prefix.test(message)
    ? message
        .replace(prefix, '')
        .replace(/\.$/, '')
        .split(/;\s+/)
        .map((problem) => `${problem}.`)
    : [message];
  for (const problem of problems) {
    let best: { field: FieldName; at: number } | undefined;
    for (const [pattern, field] of FIELD_WORDS) {
      const at = problem.search(pattern);
      if (at >= 0 && (best === undefined || at < best.at)) best = { field, at };
    }
    if (best === undefined) other.push(problem);
    else fields[best.field] = fields[best.field] ? `${fields[best.field]} ${problem}` : problem;
  }
  return { fields, other };
}

/** `45s`, `59m`, `2h 5m`, `3d 4h`, like the CLI's status table. */
export { formatDuration, timeToExpiry } from '../../lib/cli/format.js';

/** The list's status cell: ✓ for ready, else ✗ and the state's name. */
export function statusText(state: string): string {
  return state === 'ready' ? '✓' : `✗ ${state}`;
}

/** What a state asks of a person, for the form's status line. */
export function stateAdvice(view: ProfileView): string {
  switch (view.status.state) {
    case 'ready':
      return 'The broker holds a valid access token and keeps it fresh.';
    case 'authorization_required':
      return view.grantType === 'client_credentials'
        ? 'No token yet: use Refresh now.'
        : 'No usable grant: use Authorize (or Copy Authorization URL) and consent at the authorization server.';
    case 'refresh_failing':
      return 'The last refresh failed for a passing reason; the broker keeps retrying.';
    case 'expired':
      return 'The held access token has expired and refreshing keeps failing; the broker keeps retrying.';
    case 'error':
      return 'The authorization server rejected the client: fix the profile (client ID, secret, authentication), then Save.';
    default:
      return '';
  }
}
