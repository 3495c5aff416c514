/**
 * Helpers shared by the lifecycle race tests (races.test.ts, pending-version.test.ts, …): gates that pause a
 * refresh or a callback at an exact point (in the token endpoint's answer, or in the vault write), a store
 * whose `updateStatus` calls can be failed on purpose, brokers built on the scenario's table and vault with
 * chosen parts replaced, and a few readers of what the fakes saw. They read the current test's scenario
 * (`s`, `env` from fixture.ts), so call them only inside tests and hooks.
 */
import type { PutSecretValueCommandInput } from '@aws-sdk/client-secrets-manager';
import { expect } from 'vitest';
import { DynamoDbProfileStore } from '../../../lib/adapters/dynamodb-profile-store.js';
import { SecretsManagerVault } from '../../../lib/adapters/secrets-manager-vault.js';
import { Broker } from '../../../lib/broker.js';
import type { ProfileStore, SecretVault, StatusUpdate, StatusUpdateOptions, TokenSet } from '../../../lib/ports.js';
import type { ProfileRecord } from '../../../lib/profile.js';
import { apiGatewayEvent } from '../../support/api-events.js';
import { completeConsentProgrammatically } from '../../support/consent.js';
import { CALLBACK_URL, env, s, shortSleep } from './fixture.js';


/** A point where a call stops until the test opens the gate. */
export interface Gate {
  /** Resolves when the paused call has reached the gate. */
  reached: Promise<void>;
  open(): void;
}

export interface GatePoint extends Gate {
  /** Called by the paused code: signals arrival and waits for `open()`. */
  pass(): Promise<void>;
}

export function gate(): GatePoint {
  let arrive!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((resolve) => (arrive = resolve));
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    reached,
    open,
    async pass() {
      arrive();
      await opened;
    },
  };
}

/**
 * A `fetch` for the broker whose next token-endpoint answer for `grantType` is held back (after the server
 * answered, before the broker sees it) until the test opens the gate.
 */
export function pausingFetch() {
  let armed: { grantType: string; point: GatePoint } | undefined;
  const wrapped = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    const body = init?.body instanceof URLSearchParams ? init.body.toString() : typeof init?.body === 'string' ? init.body : '';
    const response = await fetch(input, init);
    const grantType = new URLSearchParams(body).get('grant_type');
    if (armed && url === env.server.tokenEndpoint && grantType === armed.grantType) {
      const { point } = armed;
      armed = undefined;
      await point.pass();
    }
    return response;
  };
  return {
    fetch: wrapped as typeof fetch,
    pauseNext(grantType: string): Gate {
      const point = gate();
      armed = { grantType, point };
      return point;
    },
  };
}

/** The real DynamoDB store with `updateStatus` intercepted: `hook` decides whether a call fails. */
export function interceptedStore(
  real: DynamoDbProfileStore,
  hook: (options: StatusUpdateOptions, update: StatusUpdate) => Error | undefined,
): ProfileStore & { calls: StatusUpdateOptions[] } {
  const calls: StatusUpdateOptions[] = [];
  return new Proxy(real, {
    get(target, property) {
      if (property === 'calls') return calls;
      if (property === 'updateStatus') {
        return async (id: string, update: StatusUpdate, options: StatusUpdateOptions) => {
          calls.push(options);
          const injected = hook(options, update);
          if (injected) throw injected;
          return target.updateStatus(id, update, options);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as ProfileStore & { calls: StatusUpdateOptions[] };
}

/** A DynamoDB throttling error, as the SDK surfaces it (by name). */
export function throttled(): Error {
  const error = new Error('injected: Rate of requests exceeds the allowed throughput.');
  error.name = 'ProvisionedThroughputExceededException';
  return error;
}

/** The real vault with `putTokenSet` paused at a gate (once), recording what it was asked to write. */
export function pausingVault(real: SecretsManagerVault) {
  let point: GatePoint | undefined;
  const written: TokenSet[] = [];
  const vault: SecretVault = {
    putClientSecret: (id, secret) => real.putClientSecret(id, secret),
    getClientSecret: (id) => real.getClientSecret(id),
    getTokenSet: (id, version) => real.getTokenSet(id, version),
    deleteClientSecret: (id) => real.deleteClientSecret(id),
    deleteTokenSet: (id) => real.deleteTokenSet(id),
    deleteProfileSecrets: (id) => real.deleteProfileSecrets(id),
    async putTokenSet(id, tokens, options) {
      written.push(tokens);
      const paused = point;
      point = undefined;
      if (paused) await paused.pass();
      return real.putTokenSet(id, tokens, options);
    },
  };
  return {
    vault,
    written,
    pauseNextWrite(): Gate {
      point = gate();
      return point;
    },
  };
}

/** A broker ("another container") on the scenario's table and vault, with chosen parts replaced. */
export function directBroker(parts: { store?: ProfileStore; vault?: SecretVault; fetch?: typeof fetch } = {}): Broker {
  return new Broker({
    store: parts.store ?? new DynamoDbProfileStore({ tableName: s.tableName, client: env.db.doc }),
    vault: parts.vault ?? new SecretsManagerVault({ client: env.secrets.client, prefix: s.secretPrefix }),
    clock: s.clock,
    logger: s.logger,
    callbackUrl: CALLBACK_URL,
    events: s.events,
    sleep: shortSleep,
    random: () => 0.5,
    urlPolicy: 'local',
    ...(parts.fetch ? { fetch: parts.fetch } : {}),
  });
}

/** Every secret the fake Secrets Manager holds for a profile (live or scheduled for deletion). */
export function secretsOf(id: string): string[] {
  return [...env.secrets.secrets.keys()].filter((name) => name.startsWith(`${s.secretPrefix}/${id}/`));
}

/** PutSecretValue calls that targeted one secret. */
export function putsTo(secretName: string): number {
  return env.secrets.mock
    .calls()
    .filter((call) => {
      const command = call.args[0] as { constructor: { name: string }; input: PutSecretValueCommandInput } | undefined;
      return command?.constructor.name === 'PutSecretValueCommand' && command.input.SecretId === secretName;
    }).length;
}

export const toReady = (id: string) => s.changes(id).filter((change) => change.to === 'ready');

/** authorize-url → consent, stopping at the redirect: the callback is delivered by the test. */
export async function consentRedirect(id: string, login: string): Promise<string> {
  const { authorizationUrl } = await s.broker.createAuthorizationUrl(id);
  const redirect = await completeConsentProgrammatically(authorizationUrl, { login });
  expect(new URL(redirect).searchParams.get('code')).toBeTruthy();
  return redirect;
}

export async function authorizedProfile(
  label: string,
  body: Record<string, unknown> = {},
): Promise<{ id: string; authorized: ProfileRecord; before: TokenSet }> {
  const id = s.newId(label);
  await s.createProfile(id, body);
  await s.authorize(id, `${label}-user`);
  return { id, authorized: await s.record(id), before: await s.heldTokens(id) };
}

/** The commit that ends a refresh (and releases the lease), as opposed to the writes that keep it. */
export function finalCommit(options: StatusUpdateOptions): boolean {
  return typeof options.fence === 'object' && options.fence.then === 'release';
}

/** `POST /profiles/{id}/refresh` as API Gateway delivers it. */
export function adminRefreshEvent(id: string) {
  return apiGatewayEvent({ method: 'POST', resource: '/profiles/{id}/refresh', pathParameters: { id } });
}

/** A `fetch` for the broker that records the `token` of every request to the revocation endpoint. */
export function recordingRevocations() {
  const revoked: Array<{ token: string | null; hint: string | null }> = [];
  const wrapped = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    if (url === env.server.revocationEndpoint) {
      const body = init?.body instanceof URLSearchParams ? init.body.toString() : typeof init?.body === 'string' ? init.body : '';
      const params = new URLSearchParams(body);
      revoked.push({ token: params.get('token'), hint: params.get('token_type_hint') });
    }
    return fetch(input, init);
  };
  return { fetch: wrapped as typeof fetch, revoked };
}
