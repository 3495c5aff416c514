/**
 * Authorization server metadata: discovery (OpenID Connect Discovery 1.0, RFC 8414) with its per-container
 * cache, and the endpoints a profile talks to, explicit ones winning and discovered ones passing the same
 * URL policy.
 */
import * as oauth from 'oauth4webapi';
import { endpointUrlProblem, type UrlPolicy } from '../endpoint-policy.js';
import type { ProfileConfig } from '../profile.js';
import { OAuthFailure, classifyOAuthError } from './failures.js';
import { requestOptions, type OAuthOptions } from './requests.js';

/** Discovery documents change rarely; re-fetch them hourly per container. */
const DISCOVERY_TTL_MS = 60 * 60 * 1000;

/** A failed discovery is remembered this long, so that an issuer that is down or wrong is not asked on every call. */
const DISCOVERY_FAILURE_TTL_MS = 5 * 60 * 1000;

/**
 * How long a discovery that only completes the revocation endpoint may take: it is best effort, and it
 * runs inside refreshes whose time is budgeted.
 */
const OPTIONAL_DISCOVERY_TIMEOUT_MS = 3000;

/**
 * Servers whose revocation endpoint was wanted but could not be discovered (the issuer failed): for those,
 * "no revocation endpoint" is unknown, not a fact about the server.
 */
const REVOCATION_UNKNOWN = new WeakSet<oauth.AuthorizationServer>();

/** Whether `as`'s missing revocation endpoint is only unknown (its discovery failed), not absent. */
export function isRevocationEndpointUnknown(as: oauth.AuthorizationServer): boolean {
  return REVOCATION_UNKNOWN.has(as);
}

/**
 * Placeholder issuer for profiles configured by endpoint URLs only. oauth4webapi needs an issuer string;
 * with this one no `iss` comparison can succeed by accident, and `iss` is only checked when it is known.
 */
export const UNKNOWN_ISSUER = 'urn:oauth-broker:issuer-not-configured';

/** Per-container cache of discovered metadata (an hour) and of discovery failures (five minutes). */
export class DiscoveryCache {
  readonly #entries = new Map<string, { as: oauth.AuthorizationServer; at: number } | { failure: unknown; at: number; bestEffort: boolean }>();

  get(issuer: string, now: number): oauth.AuthorizationServer | undefined {
    const hit = this.#entries.get(issuer);
    return hit && 'as' in hit && now - hit.at < DISCOVERY_TTL_MS ? hit.as : undefined;
  }

  set(issuer: string, as: oauth.AuthorizationServer, now: number): void {
    this.#entries.set(issuer, { as, at: now });
  }

  /**
   * The failure of a recent discovery of `issuer`, to be thrown again instead of asking the issuer again.
   * A best-effort attempt's failure (under a shortened timeout) is not one of a discovery the profile needs.
   */
  getFailure(issuer: string, now: number, needed = true): unknown {
    const hit = this.#entries.get(issuer);
    if (!hit || !('failure' in hit) || now - hit.at >= DISCOVERY_FAILURE_TTL_MS) return undefined;
    return hit.bestEffort && needed ? undefined : hit.failure;
  }

  setFailure(issuer: string, failure: unknown, now: number, bestEffort = false): void {
    this.#entries.set(issuer, { failure, at: now, bestEffort });
  }
}

/**
 * Fetches the issuer's metadata: OpenID Connect Discovery 1.0 §4 first, then RFC 8414 §3. A failure is an
 * `OAuthFailure`: passing when the issuer could not be reached or failed (network, 5xx, 429), else an
 * `invalid_configuration` error (no metadata document there, or not this issuer's).
 */
export async function discoverAuthorizationServer(issuer: string, options: OAuthOptions): Promise<oauth.AuthorizationServer> {
  const issuerUrl = new URL(issuer);
  const failures: OAuthFailure[] = [];
  for (const algorithm of ['oidc', 'oauth2'] as const) {
    try {
      const response = await oauth.discoveryRequest(issuerUrl, { ...requestOptions(issuer, options), algorithm });
      return await oauth.processDiscoveryResponse(issuerUrl, response);
    } catch (error) {
      failures.push(classifyOAuthError(error));
    }
  }
  throw discoveryFailure(failures);
}

function discoveryFailure(failures: OAuthFailure[]): OAuthFailure {
  const transient = failures.find((failure) => failure.kind === 'passing' && (failure.code === 'network_error' || failure.code === 'server_error'));
  if (transient) {
    return new OAuthFailure(
      transient.code,
      'passing',
      `The issuer's metadata could not be read: ${transient.message.replace(/^The authorization server /, 'the authorization server ')}`,
      transient.retryAfterSeconds,
      transient.httpStatus,
    );
  }
  const configuration = failures.find((failure) => failure.code === 'invalid_configuration');
  if (configuration) return configuration;
  const status = failures.map((failure) => failure.httpStatus).find((httpStatus) => httpStatus !== undefined && httpStatus >= 300);
  return new OAuthFailure(
    'invalid_configuration',
    'error',
    `The issuer publishes no usable metadata (${status === undefined ? 'no valid discovery document' : `HTTP ${status}`}): check the profile's issuer, or set its endpoint URLs explicitly.`,
    undefined,
    status,
  );
}

/**
 * Discovery through the cache: a recent success is reused, a recent failure is thrown again. A
 * `bestEffort` attempt (shortened timeout, nothing depends on it) remembers its failure for other
 * best-effort attempts only: a discovery the profile needs asks the issuer again with its full timeout.
 */
async function discoverCached(
  issuer: string,
  options: OAuthOptions & { cache?: DiscoveryCache; now?: number; bestEffort: boolean },
): Promise<oauth.AuthorizationServer> {
  const { cache } = options;
  const now = options.now ?? Date.now();
  const cached = cache?.get(issuer, now);
  if (cached) return cached;
  const failure = cache?.getFailure(issuer, now, !options.bestEffort);
  if (failure !== undefined) throw failure;
  try {
    const discovered = await discoverAuthorizationServer(issuer, options);
    cache?.set(issuer, discovered, now);
    return discovered;
  } catch (error) {
    cache?.setFailure(issuer, error, now, options.bestEffort);
    throw error;
  }
}

export interface ResolveOptions extends OAuthOptions {
  cache?: DiscoveryCache;
  now?: number;
  /** Also discover the revocation endpoint when the profile has none (DELETE). Default false. */
  needRevocation?: boolean;
}

/**
 * The authorization server a profile talks to: its explicit endpoints, completed by discovery when an
 * issuer is set (docs/api.md: "endpoints missing above are discovered"). Explicit endpoints win. Discovery only
 * runs when an endpoint the caller needs is missing: the token endpoint, the authorization endpoint of an
 * authorization_code profile, and the revocation endpoint when `needRevocation` is set (a failure to
 * discover that one alone is not an error: revocation is best effort).
 */
export async function resolveAuthorizationServer(config: ProfileConfig, options: ResolveOptions): Promise<oauth.AuthorizationServer> {
  const explicit: Partial<oauth.AuthorizationServer> = {
    ...(config.authorizationUrl ? { authorization_endpoint: config.authorizationUrl } : {}),
    ...(config.tokenUrl ? { token_endpoint: config.tokenUrl } : {}),
    ...(config.revocationUrl ? { revocation_endpoint: config.revocationUrl } : {}),
  };
  if (!config.issuer) {
    return { issuer: UNKNOWN_ISSUER, ...explicit };
  }
  const required = !config.tokenUrl || (config.grantType === 'authorization_code' && !config.authorizationUrl);
  const wanted = options.needRevocation === true && !config.revocationUrl;
  let discovered: oauth.AuthorizationServer = { issuer: config.issuer };
  let unknownRevocation = false;
  if (required || wanted) {
    const timeoutMs = required ? options.timeoutMs : Math.min(options.timeoutMs ?? OPTIONAL_DISCOVERY_TIMEOUT_MS, OPTIONAL_DISCOVERY_TIMEOUT_MS);
    try {
      const document = await discoverCached(config.issuer, { ...options, ...(timeoutMs !== undefined ? { timeoutMs } : {}), bestEffort: !required });
      discovered = acceptedEndpoints(document, options.urlPolicy ?? 'cloud', explicit);
    } catch (error) {
      if (required) throw error;
      unknownRevocation = true;
    }
  }
  const as = { ...discovered, ...explicit, issuer: config.issuer };
  if (unknownRevocation) REVOCATION_UNKNOWN.add(as);
  return as;
}

/** The endpoints of a discovery document the broker would use, with the profile's own names. */
const DISCOVERED_ENDPOINTS = [
  ['authorization_endpoint', 'authorizationUrl'],
  ['token_endpoint', 'tokenUrl'],
  ['revocation_endpoint', 'revocationUrl'],
] as const;

/**
 * docs/api.md: endpoints learned by discovery obey the same URL rules as given ones. A discovery document
 * naming an endpoint the policy refuses (a `file:` authorization endpoint, an `http:` or private token
 * endpoint in the cloud) is not this broker's server: the whole document is refused, naming the field.
 * An endpoint the profile sets itself is not taken from the document, so it is not judged either.
 */
function acceptedEndpoints(as: oauth.AuthorizationServer, policy: UrlPolicy, explicit: Partial<oauth.AuthorizationServer>): oauth.AuthorizationServer {
  for (const [field, profileField] of DISCOVERED_ENDPOINTS) {
    const value = as[field];
    if (value === undefined || explicit[field] !== undefined) continue;
    const problem = typeof value === 'string' ? endpointUrlProblem(value, policy) : 'is not a URL';
    if (problem) {
      throw new OAuthFailure(
        'invalid_configuration',
        'error',
        `The issuer's discovery document names a ${field} that the broker does not accept (it ${problem}): fix the issuer's metadata, or set ${profileField} on the profile.`,
      );
    }
  }
  return as;
}

export function isIssuerKnown(as: oauth.AuthorizationServer): boolean {
  return as.issuer !== UNKNOWN_ISSUER;
}
