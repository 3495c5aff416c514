/**
 * The console's calls to the broker's API (docs/api.md), on the page's own origin: local mode serves the
 * API beside the console; `oauth-broker console` forwards them, signed, to the deployed API.
 */
import type { ProfileView } from './model.js';

/** An error answer, or no answer: `code` is the contract's error code, `message` its sentence. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface AuthorizationStart {
  authorizationUrl: string;
  callbackUrl: string;
  expiresAt: string;
}

/** Where the console is connected, from the server that serves it. */
export interface ConsoleConfig {
  mode: 'local' | 'remote';
  /** The API's base URL (local mode: this origin). */
  apiUrl: string;
  /** The broker's callback URL, when the server knows it. */
  callbackUrl: string | null;
}

const profilePath = (id: string) => `/profiles/${encodeURIComponent(id)}`;

async function call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network_error', 'The console cannot reach its server: is the broker (or oauth-broker console) still running?');
  }
  if (response.status === 204) return { status: 204, body: undefined as T };
  const text = await response.text().catch(() => '');
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.ok) {
    if (json === undefined) throw new ApiError(response.status, 'invalid_response', `The API answered HTTP ${response.status} without a JSON body.`);
    return { status: response.status, body: json as T };
  }
  throw toApiError(response.status, json, method, path);
}

/** The contract's `{error, message}`; API Gateway's own refusals (`{message}`) in words a person can act on. */
export function toApiError(status: number, json: unknown, method: string, path: string): ApiError {
  const error = (json ?? {}) as { error?: unknown; message?: unknown };
  const message = typeof error.message === 'string' ? error.message : undefined;
  if (status === 403 || status === 401) {
    const detail = message && message !== 'Forbidden' ? ` (${message})` : '';
    return new ApiError(
      status,
      'not_allowed',
      `Not allowed: your AWS identity may not call ${method} ${path}${detail}. Ask an administrator for execute-api:Invoke on this route.`,
    );
  }
  if (typeof error.error === 'string' && message) return new ApiError(status, error.error, message);
  return new ApiError(status, `http_${status}`, message ?? `The API answered HTTP ${status}.`);
}

export const api = {
  config: async () => (await call<ConsoleConfig>('GET', '/console/config.json')).body,
  list: async () => (await call<{ profiles: ProfileView[] }>('GET', '/profiles')).body.profiles,
  get: async (id: string) => (await call<ProfileView>('GET', profilePath(id))).body,
  put: async (id: string, body: Record<string, unknown>) => {
    const answer = await call<ProfileView>('PUT', profilePath(id), body);
    return { created: answer.status === 201, view: answer.body };
  },
  remove: async (id: string) => {
    await call<undefined>('DELETE', profilePath(id));
  },
  authorizeUrl: async (id: string) => (await call<AuthorizationStart>('GET', `${profilePath(id)}/authorize-url`)).body,
  refresh: async (id: string) => (await call<ProfileView>('POST', `${profilePath(id)}/refresh`)).body,
};
