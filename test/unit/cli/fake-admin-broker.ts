/**
 * An in-memory broker on loopback speaking the admin part of the contract (docs/api.md), for CLI tests.
 */
import type { ProfileStatus, ProfileView } from '../../../lib/profile.js';
import { errorBody, startFakeServer, tokenBody, type FakeResponse, type FakeServer, type RecordedRequest } from '../sdk/fake-broker.js';

export const NOW = Date.parse('2026-11-28T09:00:00.000Z');

export function makeView(id: string, status: Partial<ProfileStatus> = {}, config: Partial<ProfileView> = {}): ProfileView {
  return {
    id,
    grantType: 'authorization_code',
    authorizationUrl: 'https://as.example/authorize',
    tokenUrl: 'https://as.example/token',
    issuer: null,
    clientId: `${id}-client`,
    hasClientSecret: true,
    clientAuthMethod: 'client_secret_basic',
    scope: 'openid offline_access',
    authorizationParams: {},
    tokenParams: {},
    usePkce: true,
    defaultTokenLifetimeSeconds: 3600,
    revocationUrl: null,
    callbackUrl: 'http://127.0.0.1:8787/callback',
    createdAt: '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-01T00:00:00.000Z',
    ...config,
    status: {
      state: 'authorization_required',
      accessTokenExpiresAt: null,
      hasRefreshToken: false,
      lastRefreshAt: null,
      lastAuthorizedAt: null,
      lastError: null,
      consecutiveFailures: 0,
      nextRefreshAt: null,
      ...status,
    },
  };
}

/** Ready, with a token that expires 59 minutes and 30 seconds after {@link NOW}. */
export function readyStatus(): Partial<ProfileStatus> {
  return {
    state: 'ready',
    accessTokenExpiresAt: new Date(NOW + 3570_000).toISOString(),
    hasRefreshToken: true,
    lastAuthorizedAt: '2026-11-28T08:00:00.000Z',
    lastRefreshAt: '2026-11-28T08:59:00.000Z',
  };
}

export interface FakeAdminBroker extends FakeServer {
  profiles: Map<string, ProfileView>;
  /** Called on each GET /profiles/{id}, before answering: lets a test change state after some polls. */
  onGetProfile?: (id: string, count: number) => void;
  /** What POST /profiles/{id}/refresh answers; default: the view, unchanged. */
  onRefresh?: (id: string) => FakeResponse;
  /** What GET /profiles/{id}/authorize-url answers; default: an https: URL at as.example. */
  onAuthorizeUrl?: (id: string) => FakeResponse;
  /** What GET /profiles/{id}/token answers for a ready profile; default: a token named `token-<id>`. */
  onToken?: (id: string, request: RecordedRequest) => FakeResponse;
}

const ROUTE = /^\/profiles(?:\/([^/]+))?(?:\/(authorize-url|token|refresh))?$/;

export async function startFakeAdminBroker(initial: ProfileView[] = []): Promise<FakeAdminBroker> {
  const profiles = new Map(initial.map((view) => [view.id, view]));
  const polls = new Map<string, number>();
  const broker = { profiles } as FakeAdminBroker; // the hooks; the server's members are added below
  const notFound = (id: string): FakeResponse => ({ status: 404, body: errorBody('not_found', `Profile "${id}" does not exist.`) });

  const handle = (request: RecordedRequest): FakeResponse => {
    const match = ROUTE.exec(request.path);
    if (!match) return { status: 404, body: errorBody('not_found', 'No such route.') };
    const id = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
    const action = match[2];
    const view = id === undefined ? undefined : profiles.get(id);

    if (id === undefined) {
      return request.method === 'GET' ? { status: 200, body: { profiles: [...profiles.values()] } } : { status: 405 };
    }
    if (action === undefined) {
      if (request.method === 'GET') {
        const count = (polls.get(id) ?? 0) + 1;
        polls.set(id, count);
        broker.onGetProfile?.(id, count);
        const current = profiles.get(id);
        return current ? { status: 200, body: current } : notFound(id);
      }
      if (request.method === 'PUT') {
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(request.body) as Record<string, unknown>;
        } catch {
          return { status: 400, body: errorBody('invalid_request', 'The body is not JSON.') };
        }
        if (typeof body.clientId !== 'string') return { status: 400, body: errorBody('invalid_request', 'clientId: required.') };
        const next = makeView(id, view?.status ?? {}, {
          clientId: body.clientId,
          ...(body.grantType === 'client_credentials' ? { grantType: 'client_credentials', authorizationUrl: null } : {}),
        });
        profiles.set(id, next);
        return { status: view ? 200 : 201, body: next };
      }
      if (request.method === 'DELETE') {
        if (!view) return notFound(id);
        profiles.delete(id);
        return { status: 204 };
      }
      return { status: 405 };
    }
    if (!view) return notFound(id);
    if (action === 'authorize-url' && request.method === 'GET') {
      if (view.grantType !== 'authorization_code') {
        return { status: 409, body: errorBody('conflict', `Profile "${id}" uses the client_credentials grant: it needs no authorization by a person; fetch its token directly.`) };
      }
      if (broker.onAuthorizeUrl) return broker.onAuthorizeUrl(id);
      return {
        status: 200,
        body: {
          authorizationUrl: `https://as.example/authorize?client_id=${id}-client&state=s123&code_challenge=c456`,
          callbackUrl: view.callbackUrl,
          expiresAt: new Date(NOW + 600_000).toISOString(),
        },
      };
    }
    if (action === 'token' && request.method === 'GET') {
      if (view.status.state === 'authorization_required') {
        return { status: 409, body: errorBody('authorization_required', `Profile "${id}" has no grant: a person must open its authorization URL and consent.`) };
      }
      if (view.status.state !== 'ready') {
        return { status: 503, body: errorBody('temporarily_unavailable', `No valid token for "${id}" right now.`), headers: { 'retry-after': '30' } };
      }
      return broker.onToken?.(id, request) ?? { status: 200, body: tokenBody(`token-${id}`), headers: { 'cache-control': 'no-store' } };
    }
    if (action === 'refresh' && request.method === 'POST') {
      return broker.onRefresh?.(id) ?? { status: 200, body: view };
    }
    return { status: 405 };
  };

  return Object.assign(broker, await startFakeServer(handle));
}
