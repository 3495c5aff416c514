/**
 * Fault injection on top of the fake Secrets Manager (`fake-secrets-manager.ts`): makes `PutSecretValue`
 * reject for chosen secrets a given number of times, then lets the fake's own behaviour answer again.
 *
 * aws-sdk-client-mock cannot chain "reject N times, then fall back to the fake" for one input (a
 * `.on(Command, input).rejectsOnce()` stub answers `undefined` once its once-behaviours are used up), so
 * this wraps the fake's installed `PutSecretValue` handler: it looks the handler up on the sinon stub
 * behind the mock, and installs `mock.on(PutSecretValueCommand).callsFake(wrapper)` (the latest matching
 * stub wins), which either rejects or delegates to the fake.
 */
import {
  InternalServiceError,
  PutSecretValueCommand,
  type PutSecretValueCommandInput,
} from '@aws-sdk/client-secrets-manager';
import type { FakeSecretsManager } from './fake-secrets-manager.js';

/** What sinon stores for a `callsFake`: aws-sdk-client-mock's wrapper, called with the command. */
type PutHandler = (command: { input: PutSecretValueCommandInput }) => Promise<unknown>;

interface SinonFakeLike {
  matchingArguments?: Array<{ test?: (value: unknown) => boolean }>;
  defaultBehavior?: { fakeFn?: unknown };
}

export interface PutSecretValueFaults {
  /** Makes the next `times` PutSecretValue calls whose SecretId matches reject (added to any still pending). */
  failNext(times: number, matches?: (secretId: string) => boolean): void;
  /** Rejections not yet used. */
  pending(): number;
  /** Drops the rejections not yet used. */
  clear(): void;
  /** PutSecretValue calls rejected so far. */
  readonly rejected: number;
  /** PutSecretValue calls that reached the fake (succeeded or failed there) so far. */
  readonly delegated: number;
}

function installedPutHandler(fake: FakeSecretsManager): PutHandler {
  const probe = new PutSecretValueCommand({ SecretId: 'probe', SecretString: 'probe' });
  const fakes = (fake.mock.send as unknown as { fakes?: SinonFakeLike[] }).fakes ?? [];
  const matching = fakes.filter(
    (f) => f.matchingArguments?.length === 1 && f.matchingArguments[0]?.test?.(probe) === true && typeof f.defaultBehavior?.fakeFn === 'function',
  );
  const handler = matching.at(-1)?.defaultBehavior?.fakeFn;
  if (typeof handler !== 'function') {
    throw new Error('secrets-manager-faults: the fake Secrets Manager has no PutSecretValue handler installed (sinon internals changed?)');
  }
  return handler as PutHandler;
}

/** Installs the wrapper once per fake (after `fake.reset()`, call it again). */
export function injectPutSecretValueFaults(
  fake: FakeSecretsManager,
  makeError: () => Error = () =>
    new InternalServiceError({ $metadata: { httpStatusCode: 500 }, message: 'injected: Secrets Manager failed (test fault)' }),
): PutSecretValueFaults {
  const original = installedPutHandler(fake);
  const queue: Array<(secretId: string) => boolean> = [];
  const state = { rejected: 0, delegated: 0 };
  fake.mock.on(PutSecretValueCommand).callsFake(async (input: PutSecretValueCommandInput) => {
    const index = queue.findIndex((matches) => matches(input.SecretId ?? ''));
    if (index >= 0) {
      queue.splice(index, 1);
      state.rejected += 1;
      throw makeError();
    }
    state.delegated += 1;
    return original(new PutSecretValueCommand(input));
  });
  return {
    failNext(times, matches = () => true) {
      for (let i = 0; i < times; i++) queue.push(matches);
    },
    pending: () => queue.length,
    clear() {
      queue.length = 0;
    },
    get rejected() {
      return state.rejected;
    },
    get delegated() {
      return state.delegated;
    },
  };
}
