/**
 * The OAuth profile: what an administrator registers (API.md "PUT /profiles/{id}"), what the broker records
 * about it, and the view every route returns. The client secret is write-only: it goes to the vault and
 * only `hasClientSecret` is ever shown.
 */
import { z } from 'zod';
import { invalidRequest } from './errors.js';

export const PROFILE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** API.md: request bodies are at most 16 KiB. */
export const MAX_BODY_BYTES = 16 * 1024;

export const GRANT_TYPES = ['authorization_code', 'client_credentials'] as const;
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none'] as const;
export const PROFILE_STATES = ['authorization_required', 'ready', 'refresh_failing', 'expired', 'error'] as const;

export type GrantType = (typeof GRANT_TYPES)[number];
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];
export type ProfileState = (typeof PROFILE_STATES)[number];

/**
 * Authorization request parameters the broker sets itself (RFC 6749 §4.1.1, RFC 7636 §4.3); a profile may
 * not override them.
 */
export const RESERVED_AUTHORIZATION_PARAMS = [
  'client_id',
  'redirect_uri',
  'response_type',
  'state',
  'code_challenge',
  'code_challenge_method',
] as const;

/** Token request parameters the broker sets itself (RFC 6749 §4.1.3, §6, §4.4.2). */
export const RESERVED_TOKEN_PARAMS = [
  'grant_type',
  'code',
  'redirect_uri',
  'code_verifier',
  'refresh_token',
  'client_id',
  'client_secret',
] as const;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/** `https:`, or `http:` on a loopback host only (API.md). No credentials or fragments in endpoint URLs. */
const endpointUrl = (field: string) =>
  z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `${field} is not a valid absolute URL` });
      return;
    }
    if (url.protocol === 'http:' && !isLoopbackUrl(url)) {
      ctx.addIssue({
        code: 'custom',
        message: `${field} must use https: (http: is accepted only for 127.0.0.1, localhost or [::1])`,
      });
    } else if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      ctx.addIssue({ code: 'custom', message: `${field} must be an https: URL` });
    } else if (url.username || url.password) {
      ctx.addIssue({ code: 'custom', message: `${field} must not contain a user name or password` });
    } else if (url.hash) {
      ctx.addIssue({ code: 'custom', message: `${field} must not contain a #fragment` });
    }
  });

const stringMap = z.record(z.string().min(1).max(256), z.string().max(2048));

const reservedKeys = (reserved: readonly string[], field: string) => (value: Record<string, string>, ctx: z.RefinementCtx) => {
  for (const key of Object.keys(value)) {
    if (reserved.includes(key)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `${field} may not set "${key}": the broker sets it itself`,
      });
    }
  }
};

/** The body of `PUT /profiles/{id}`. Unknown fields are refused so that typos do not pass silently. */
export const profileInputSchema = z
  .strictObject({
    grantType: z.enum(GRANT_TYPES).default('authorization_code'),
    authorizationUrl: endpointUrl('authorizationUrl').optional(),
    tokenUrl: endpointUrl('tokenUrl').optional(),
    issuer: endpointUrl('issuer').optional(),
    clientId: z.string().min(1, 'clientId must not be empty').max(1024),
    clientSecret: z.string().min(1, 'clientSecret must not be empty').max(4096).optional(),
    clientAuthMethod: z.enum(CLIENT_AUTH_METHODS).default('client_secret_basic'),
    scope: z
      .string()
      .max(2048)
      .regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'scope must be space-delimited scope tokens (RFC 6749 §3.3)')
      .optional(),
    authorizationParams: stringMap.superRefine(reservedKeys(RESERVED_AUTHORIZATION_PARAMS, 'authorizationParams')).default({}),
    tokenParams: stringMap.superRefine(reservedKeys(RESERVED_TOKEN_PARAMS, 'tokenParams')).default({}),
    usePkce: z.boolean().default(true),
    defaultTokenLifetimeSeconds: z.number().int().min(60).max(86_400).default(3600),
    revocationUrl: endpointUrl('revocationUrl').optional(),
  })
  .superRefine((p, ctx) => {
    if (!p.issuer && !p.tokenUrl) {
      ctx.addIssue({ code: 'custom', path: ['tokenUrl'], message: 'tokenUrl is required unless issuer is given' });
    }
    if (p.grantType === 'authorization_code' && !p.issuer && !p.authorizationUrl) {
      ctx.addIssue({
        code: 'custom',
        path: ['authorizationUrl'],
        message: 'authorizationUrl is required for authorization_code profiles unless issuer is given',
      });
    }
    if (p.clientAuthMethod === 'none' && p.clientSecret !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['clientSecret'],
        message: 'clientSecret must be omitted when clientAuthMethod is "none"',
      });
    }
    if (p.grantType === 'client_credentials' && p.clientAuthMethod === 'none') {
      ctx.addIssue({
        code: 'custom',
        path: ['clientAuthMethod'],
        message: 'client_credentials profiles need a client secret: use client_secret_basic or client_secret_post',
      });
    }
  });

export type ProfileInput = z.output<typeof profileInputSchema>;

/** The stored, non-secret configuration of a profile. Absent optional values are `null`. */
export interface ProfileConfig {
  grantType: GrantType;
  authorizationUrl: string | null;
  tokenUrl: string | null;
  issuer: string | null;
  clientId: string;
  clientAuthMethod: ClientAuthMethod;
  scope: string | null;
  authorizationParams: Record<string, string>;
  tokenParams: Record<string, string>;
  usePkce: boolean;
  defaultTokenLifetimeSeconds: number;
  revocationUrl: string | null;
}

export interface LastError {
  /** The server's OAuth error code, or `network_error`, `server_error`, `invalid_response`, `no_refresh_token`. */
  code: string;
  message: string;
  at: string;
}

export interface ProfileStatus {
  state: ProfileState;
  accessTokenExpiresAt: string | null;
  hasRefreshToken: boolean;
  lastRefreshAt: string | null;
  lastAuthorizedAt: string | null;
  lastError: LastError | null;
  consecutiveFailures: number;
  nextRefreshAt: string | null;
}

/** What the `ProfileStore` keeps for a profile. */
export interface ProfileRecord {
  id: string;
  config: ProfileConfig;
  hasClientSecret: boolean;
  status: ProfileStatus;
  /** The vault version of the token set the status describes; `null` when no token is held. */
  tokenVersion: string | null;
  createdAt: string;
  updatedAt: string;
  /** Incremented on every write; writes that read first are conditional on it. */
  revision: number;
  /** The refresh lease (one refresh at a time per profile), when someone holds or held it. */
  lease: Lease | null;
  /** A token set obtained while the vault was failing, sealed; written to the vault on the next run. */
  stagedTokens: string | null;
}

export interface Lease {
  owner: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export interface ProfileView extends ProfileConfig {
  id: string;
  hasClientSecret: boolean;
  callbackUrl: string;
  status: ProfileStatus;
  createdAt: string;
  updatedAt: string;
}

/**
 * The status of a new profile, or of one whose tokens were discarded. It holds no token yet; a
 * client-credentials profile is due at once, so the scheduler (or the first token request) obtains one.
 */
export function initialStatus(grantType: GrantType = 'authorization_code', now?: string): ProfileStatus {
  return {
    state: 'authorization_required',
    accessTokenExpiresAt: null,
    hasRefreshToken: false,
    lastRefreshAt: null,
    lastAuthorizedAt: null,
    lastError: null,
    consecutiveFailures: 0,
    nextRefreshAt: grantType === 'client_credentials' && now ? now : null,
  };
}

export function assertProfileId(id: string | undefined): string {
  if (id === undefined || !PROFILE_ID_PATTERN.test(id)) {
    throw invalidRequest(
      'The profile id must be 1 to 64 characters of lower-case letters, digits, "-" or "_", starting with a letter or digit.',
      'bad_profile_id',
    );
  }
  return id;
}

/**
 * Parses and validates a `PUT /profiles/{id}` body. Throws `invalid_request` naming every problem; the
 * message quotes field names only, never values (a misplaced secret must not be echoed).
 */
export function parseProfileInput(body: string | null | undefined): { config: ProfileConfig; clientSecret: string | undefined } {
  if (body === null || body === undefined || body.trim() === '') {
    throw invalidRequest('The request body must be a JSON profile object.', 'empty_body');
  }
  if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) {
    throw invalidRequest(`The request body is larger than ${MAX_BODY_BYTES} bytes (16 KiB).`, 'body_too_large');
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw invalidRequest('The request body is not valid JSON.', 'malformed_json');
  }
  const parsed = profileInputSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.');
      // zod's own messages for type errors can quote the input; keep to field names and our own texts.
      const message = issue.code === 'custom' || issue.code === 'too_small' || issue.code === 'too_big' || issue.code === 'invalid_format'
        ? issue.message
        : describeIssue(issue);
      return path && !message.startsWith(path) ? `${path}: ${message}` : message;
    });
    throw invalidRequest(`The profile is invalid: ${problems.join('; ')}.`, 'invalid_profile');
  }
  const p = parsed.data;
  return {
    clientSecret: p.clientSecret,
    config: {
      grantType: p.grantType,
      authorizationUrl: p.authorizationUrl ?? null,
      tokenUrl: p.tokenUrl ?? null,
      issuer: p.issuer ?? null,
      clientId: p.clientId,
      clientAuthMethod: p.clientAuthMethod,
      scope: p.scope ?? null,
      authorizationParams: p.authorizationParams,
      tokenParams: p.tokenParams,
      usePkce: p.usePkce,
      defaultTokenLifetimeSeconds: p.defaultTokenLifetimeSeconds,
      revocationUrl: p.revocationUrl ?? null,
    },
  };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_type':
      return `must be ${issue.expected === 'record' ? 'an object of strings' : `a ${issue.expected}`}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return 'is invalid';
  }
}

export function toView(record: ProfileRecord, callbackUrl: string): ProfileView {
  return {
    id: record.id,
    ...record.config,
    hasClientSecret: record.hasClientSecret,
    callbackUrl,
    status: record.status,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** API.md: changing `clientId` or `tokenUrl` discards the tokens. */
export function tokensSurviveChange(before: ProfileConfig, after: ProfileConfig): boolean {
  return before.clientId === after.clientId && before.tokenUrl === after.tokenUrl && before.issuer === after.issuer && before.grantType === after.grantType;
}
