/**
 * Validation of the `PUT /profiles/{id}` body (docs/api.md), on zod's tree-shakable `zod/mini` API. Kept apart
 * from `profile.ts` so that only the route that writes profiles loads it: the token path never parses a
 * profile (cold start). Import this module dynamically from the use case that needs it.
 */
import * as z from 'zod/mini';
import { en } from 'zod/locales';
import { invalidRequest } from './errors.js';
import { CLIENT_ASSERTION_AUDIENCES } from './keys/client-assertion.js';
import { SIGNING_ALGORITHMS } from './keys/signer.js';
import {
  CLIENT_AUTH_METHODS,
  GRANT_TYPES,
  parseJsonBody,
  RESERVED_AUTHORIZATION_PARAMS,
  RESERVED_TOKEN_PARAMS,
  type ProfileConfig,
} from './profile.js';
import { endpointUrlProblem, type UrlPolicy } from './endpoint-policy.js';

// zod's own messages for length and range checks (passed through by `parseProfileInput`) come from its
// English locale, which classic `zod` installs when its first schema is made and `zod/mini` leaves out.
// Installed the same way: only when no locale is set yet. (`z.config()` returns the global config; reading
// `z.core.globalConfig` instead would make the bundler keep all of `z.core`, ~380 KiB.)
if (!z.config().localeError) z.config(en());

/**
 * An absolute URL. Which URLs are acceptable (https:, loopback http: in local mode, no private addresses in
 * the cloud) depends on where the broker runs: `parseProfileInput` checks that with `endpointUrlProblem`,
 * the one rule discovered endpoints obey too.
 */
const endpointUrl = (field: string) =>
  z.string().check(
    z.superRefine((value, ctx) => {
      if (!URL.canParse(value)) ctx.addIssue({ code: 'custom', message: `${field} is not a valid absolute URL` });
    }),
  );

/** The profile fields that name an authorization server endpoint. */
const ENDPOINT_FIELDS = ['authorizationUrl', 'tokenUrl', 'issuer', 'revocationUrl'] as const;

const reservedKeys = (reserved: readonly string[], field: string) => (value: Record<string, string>, ctx: z.core.$RefinementCtx<Record<string, string>>) => {
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

const stringMap = z.record(z.string().check(z.minLength(1), z.maxLength(256)), z.string().check(z.maxLength(2048)));

/** The body of `PUT /profiles/{id}`. Unknown fields are refused so that typos do not pass silently. */
export const profileInputSchema = z
  .strictObject({
    grantType: z._default(z.enum(GRANT_TYPES), 'authorization_code'),
    authorizationUrl: z.optional(endpointUrl('authorizationUrl')),
    tokenUrl: z.optional(endpointUrl('tokenUrl')),
    issuer: z.optional(endpointUrl('issuer')),
    clientId: z.string().check(z.minLength(1, 'clientId must not be empty'), z.maxLength(1024)),
    clientSecret: z.optional(z.string().check(z.minLength(1, 'clientSecret must not be empty'), z.maxLength(4096))),
    clientAuthMethod: z._default(z.enum(CLIENT_AUTH_METHODS), 'client_secret_basic'),
    scope: z.optional(
      z
        .string()
        .check(
          z.maxLength(2048),
          z.regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'scope must be space-delimited scope tokens (RFC 6749 §3.3)'),
        ),
    ),
    authorizationParams: z._default(stringMap.check(z.superRefine(reservedKeys(RESERVED_AUTHORIZATION_PARAMS, 'authorizationParams'))), {}),
    tokenParams: z._default(stringMap.check(z.superRefine(reservedKeys(RESERVED_TOKEN_PARAMS, 'tokenParams'))), {}),
    usePkce: z._default(z.boolean(), true),
    // `z.int()` as a check on a number, as classic `z.number().int()` is: the same issues, in the same order.
    defaultTokenLifetimeSeconds: z._default(z.number().check(z.int(), z.gte(60), z.lte(86_400)), 3600),
    revocationUrl: z.optional(endpointUrl('revocationUrl')),
    clientAssertionAlgorithm: z.optional(z.enum(SIGNING_ALGORITHMS)),
    clientAssertionAudience: z.optional(z.enum(CLIENT_ASSERTION_AUDIENCES)),
  })
  .check(
    z.superRefine((p, ctx) => {
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
      if (p.clientAuthMethod === 'none' && !p.usePkce) {
        // RFC 9700 §2.1.1: a public client has no secret, so PKCE is all that binds the code to the broker.
        ctx.addIssue({
          code: 'custom',
          path: ['usePkce'],
          message: 'usePkce must stay true when clientAuthMethod is "none": a public client has no secret, so PKCE alone binds the code to the broker',
        });
      }
      if (p.clientAuthMethod === 'private_key_jwt' && p.clientSecret !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['clientSecret'],
          message: 'clientSecret must be omitted when clientAuthMethod is "private_key_jwt": the broker signs client assertions with its own key',
        });
      }
      for (const field of ['clientAssertionAlgorithm', 'clientAssertionAudience'] as const) {
        if (p[field] !== undefined && p.clientAuthMethod !== 'private_key_jwt') {
          ctx.addIssue({ code: 'custom', path: [field], message: `${field} applies only when clientAuthMethod is "private_key_jwt"` });
        }
      }
      if (p.grantType === 'client_credentials' && p.clientAuthMethod === 'none') {
        ctx.addIssue({
          code: 'custom',
          path: ['clientAuthMethod'],
          message: 'client_credentials profiles need client authentication: use client_secret_basic, client_secret_post or private_key_jwt',
        });
      }
    }),
  );

export type ProfileInput = z.output<typeof profileInputSchema>;

/**
 * Parses and validates a `PUT /profiles/{id}` body; endpoint URLs under `policy` (the composition root's:
 * `cloud` in the Lambda functions, `local` for `npm start`). Throws `invalid_request` naming every problem;
 * the message quotes field names only, never values (a misplaced secret must not be echoed).
 */
export function parseProfileInput(
  body: string | null | undefined,
  policy: UrlPolicy = 'cloud',
): { config: ProfileConfig; clientSecret: string | undefined } {
  if (body === null || body === undefined || body.trim() === '') {
    throw invalidRequest('The request body must be a JSON profile object.', 'empty_body');
  }
  const json = parseJsonBody(body);
  const parsed = profileInputSchema.safeParse(json);
  const urlProblems = endpointProblems(json, policy);
  if (!parsed.success || urlProblems.length > 0) {
    const problems = (parsed.error?.issues ?? []).map((issue) => {
      const path = issue.path.map(String).join('.');
      // zod's own messages for type errors can quote the input; keep to field names and our own texts.
      const message = issue.code === 'custom' || issue.code === 'too_small' || issue.code === 'too_big' || issue.code === 'invalid_format'
        ? issue.message
        : describeIssue(issue);
      return path && !message.startsWith(path) ? `${path}: ${message}` : message;
    });
    throw invalidRequest(`The profile is invalid: ${[...problems, ...urlProblems].join('; ')}.`, 'invalid_profile');
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
      ...(p.clientAuthMethod === 'private_key_jwt'
        ? { clientAssertionAlgorithm: p.clientAssertionAlgorithm ?? 'ES256', clientAssertionAudience: p.clientAssertionAudience ?? 'issuer' }
        : {}),
    },
  };
}

/** The endpoint fields of a body (those that are absolute URLs) that `policy` refuses, in words. */
function endpointProblems(json: unknown, policy: UrlPolicy): string[] {
  if (json === null || typeof json !== 'object') return [];
  const fields = json as Record<string, unknown>;
  return ENDPOINT_FIELDS.flatMap((field) => {
    const value = fields[field];
    if (typeof value !== 'string' || !URL.canParse(value)) return [];
    const problem = endpointUrlProblem(value, policy);
    return problem ? [`${field} ${problem}`] : [];
  });
}

/** A zod issue in words that name fields and allowed values, never the input. */
export function describeIssue(issue: z.core.$ZodIssue): string {
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
