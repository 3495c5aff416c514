/**
 * The trust tests' environment: the lifecycle fixture (a real oidc-provider, dynalite, the fake Secrets
 * Manager, brokers from the Lambda composition root) under the CLOUD URL policy, with the authorization
 * server and a hostile server reachable as https: hosts through `aliasFetch`. Call `useTrustHooks()` once
 * per test file; read `env` and `s` (from the lifecycle fixture) and `hostile` in tests.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { aliasFetch, startHostileServer, type HostileServer } from '../../support/hostile-server.js';
import { completeConsentProgrammatically } from '../../support/consent.js';
import { SCOPE, env, s, useLifecycleHooks } from '../lifecycle/fixture.js';

/** The real authorization server (the oidc-provider), as the broker sees it. */
export const AS = 'https://as.trust.test';
/** The hostile server, as the broker sees it. */
export const HOSTILE = 'https://hostile.trust.test';

const aliases = new Map<string, string>();
export let hostile: HostileServer;

export function useTrustHooks(): void {
  // Cloud rules: the brokers accept only https: endpoints on public names; the aliases take them to loopback.
  useLifecycleHooks({ brokerOverrides: { urlPolicy: 'cloud', fetch: aliasFetch(aliases) } });
  beforeAll(async () => {
    hostile = await startHostileServer();
    aliases.set(AS, env.server.issuer);
    aliases.set(HOSTILE, hostile.origin);
  });
  afterAll(async () => {
    await hostile?.close();
  });
  beforeEach(() => {
    hostile.received.length = 0;
  });
}

/** A `PUT /profiles/{id}` body for the real server's code client, by its https: name. */
export function realProfileBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    authorizationUrl: `${AS}/auth`,
    tokenUrl: `${AS}/token`,
    revocationUrl: `${AS}/token/revocation`,
    clientId: env.clients.code.clientId,
    clientSecret: env.clients.code.clientSecret,
    scope: SCOPE,
    authorizationParams: { prompt: 'consent' },
    ...overrides,
  };
}

/** authorize-url → consent at the real server (by its loopback address) → the redirect to the callback. */
export async function consentAtRealServer(id: string, login: string): Promise<URL> {
  const { authorizationUrl } = await s.broker.createAuthorizationUrl(id);
  return new URL(await completeConsentProgrammatically(authorizationUrl.replace(AS, env.server.issuer), { login }));
}

/** A profile authorized at the real server. */
export async function authorizedAtRealServer(label: string, overrides: Record<string, unknown> = {}): Promise<string> {
  const id = s.newId(label);
  await s.createProfile(id, realProfileBody(overrides));
  await s.broker.completeAuthorization((await consentAtRealServer(id, `${label}-user`)).searchParams);
  return id;
}
