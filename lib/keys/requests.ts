/**
 * Validation of the key admin routes' bodies (docs/keys.md "Rotation"): `POST /keys/rotate`,
 * `/keys/promote` and `/keys/withdraw`. An empty body means the defaults; unknown fields are refused so
 * that a typo never passes silently; messages name fields, never values.
 */
import { invalidRequest } from '../errors.js';
import { parseJsonBody } from '../profile.js';
import { isSigningAlgorithm, SIGNING_ALGORITHMS, type SigningAlgorithm } from './signer.js';
import { MAX_GRACE_SECONDS, MIN_GRACE_SECONDS } from './signing-keys.js';

function bodyObject(body: string | null | undefined, allowed: readonly string[]): Record<string, unknown> {
  if (body === null || body === undefined || body.trim() === '') return {};
  const json = parseJsonBody(body);
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw invalidRequest('The request body must be a JSON object.', 'invalid_body');
  const unknown = Object.keys(json).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw invalidRequest(`Unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k.slice(0, 64)}"`).join(', ')}; allowed: ${allowed.join(', ')}.`, 'invalid_body');
  }
  return json as Record<string, unknown>;
}

function algorithm(value: unknown): SigningAlgorithm | undefined {
  if (value === undefined) return undefined;
  if (!isSigningAlgorithm(value)) throw invalidRequest(`alg must be one of ${SIGNING_ALGORITHMS.join(', ')}.`, 'invalid_body');
  return value;
}

/** `POST /keys/rotate`: `{"alg"?: "ES256" | "RS256" | "PS256", "keyArn"?: string}`. */
export function parseRotateRequest(body: string | null | undefined): { alg?: SigningAlgorithm; keyArn?: string } {
  const json = bodyObject(body, ['alg', 'keyArn']);
  const alg = algorithm(json.alg);
  if (json.keyArn !== undefined && (typeof json.keyArn !== 'string' || json.keyArn.length === 0 || json.keyArn.length > 2048)) {
    throw invalidRequest('keyArn must be the ARN of a KMS key (a non-empty string).', 'invalid_body');
  }
  return { ...(alg ? { alg } : {}), ...(json.keyArn !== undefined ? { keyArn: json.keyArn as string } : {}) };
}

/** `POST /keys/promote`: `{"alg"?: …, "graceSeconds"?: integer}`. */
export function parsePromoteRequest(body: string | null | undefined): { alg?: SigningAlgorithm; graceSeconds?: number } {
  const json = bodyObject(body, ['alg', 'graceSeconds']);
  const alg = algorithm(json.alg);
  const grace = json.graceSeconds;
  if (grace !== undefined && (typeof grace !== 'number' || !Number.isInteger(grace) || grace < MIN_GRACE_SECONDS || grace > MAX_GRACE_SECONDS)) {
    throw invalidRequest(`graceSeconds must be a whole number of seconds from ${MIN_GRACE_SECONDS} to ${MAX_GRACE_SECONDS} (30 days).`, 'invalid_body');
  }
  return { ...(alg ? { alg } : {}), ...(grace !== undefined ? { graceSeconds: grace as number } : {}) };
}

/** `POST /keys/withdraw`: `{"kid"?: string}`. */
export function parseWithdrawRequest(body: string | null | undefined): { kid?: string } {
  const json = bodyObject(body, ['kid']);
  if (json.kid !== undefined && (typeof json.kid !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(json.kid))) {
    throw invalidRequest('kid must be a key id as GET /keys lists it.', 'invalid_body');
  }
  return json.kid !== undefined ? { kid: json.kid as string } : {};
}
