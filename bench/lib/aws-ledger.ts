/**
 * The refresh benchmark's ledger: every DynamoDB and Secrets Manager call and every request to an
 * authorization server a broker makes, in order and attributed to its profile, so that calls per refresh
 * can be counted (before and after the grant); and, when set, a simulated network latency on each, the
 * regime a Lambda function lives in.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { performance } from 'node:perf_hooks';

export interface LedgerEntry {
  /** performance.now() when the call was made. */
  at: number;
  service: 'DynamoDB' | 'SecretsManager' | 'grant';
  command: string;
  profileId: string | undefined;
}

/** Command names as the document client's middleware sees them (the low-level commands). */
const DYNAMODB_WRITES = new Set(['UpdateItemCommand', 'PutItemCommand', 'DeleteItemCommand']);
const SECRETS_MANAGER_WRITES = new Set(['PutSecretValueCommand', 'CreateSecretCommand']);

const sleep = (ms: number) => (ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

export class CallLedger {
  readonly entries: LedgerEntry[] = [];
  /** Milliseconds added to every call while set. */
  readonly latency = { dynamoDbMs: 0, secretsManagerMs: 0, grantMs: 0 };
  recording = false;

  #record(service: LedgerEntry['service'], command: string, profileId: string | undefined): void {
    if (this.recording) this.entries.push({ at: performance.now(), service, command, profileId });
  }

  /** Every command the document client sends; profile items are keyed `PROFILE#<id>`. */
  instrumentDynamoDb(client: DynamoDBDocumentClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: { pk?: unknown } }).Key?.pk;
        const profileId = typeof key === 'string' && key.startsWith('PROFILE#') ? key.slice('PROFILE#'.length) : undefined;
        this.#record('DynamoDB', String(context.commandName), profileId);
        await sleep(this.latency.dynamoDbMs);
        return next(args);
      },
      { step: 'initialize', name: 'benchCallLedger' },
    );
  }

  /**
   * Every command the Secrets Manager client sends; secrets are named `<prefix>/<profileId>/<kind>`. The
   * instance's `send` is wrapped (the fake Secrets Manager stubs the class's), so only this client counts.
   */
  instrumentSecretsManager(client: SecretsManagerClient): void {
    const send = client.send.bind(client) as (command: unknown, ...rest: unknown[]) => Promise<unknown>;
    (client as { send: unknown }).send = async (command: { constructor: { name: string }; input: { SecretId?: string; Name?: string } }, ...rest: unknown[]) => {
      const name = command.input.SecretId ?? command.input.Name;
      this.#record('SecretsManager', command.constructor.name, name?.split('/').at(-2));
      await sleep(this.latency.secretsManagerMs);
      return send(command, ...rest);
    };
  }

  /**
   * A fetch for the broker: requests to the authorization server, with the grant's latency. A grant is
   * attributed to the profile of the call before it, so count per refresh only runs of one worker.
   */
  fetch(inner: typeof fetch = fetch): typeof fetch {
    return async (input, init) => {
      const body = typeof init?.body === 'string' ? init.body : init?.body instanceof URLSearchParams ? init.body.toString() : '';
      const grantType = new URLSearchParams(body).get('grant_type') ?? 'other';
      this.#record('grant', grantType, [...this.entries].reverse().find((entry) => entry.profileId !== undefined)?.profileId);
      await sleep(this.latency.grantMs);
      return inner(input, init);
    };
  }

  reset(): void {
    this.entries.length = 0;
  }
}

export interface CallsPerRefresh {
  /** Profiles with exactly one refresh grant in the ledger (the ones counted). */
  refreshes: number;
  dynamoDbWritesBeforeGrant: number;
  dynamoDbWritesAfterGrant: number;
  dynamoDbReads: number;
  secretsManagerReads: number;
  secretsManagerWrites: number;
}

/** Average calls per refreshed profile, split at its grant. Calls without a profile (the due query) are left out. */
export function callsPerRefresh(entries: readonly LedgerEntry[]): CallsPerRefresh {
  const byProfile = new Map<string, LedgerEntry[]>();
  for (const entry of entries) {
    if (entry.profileId === undefined) continue;
    const list = byProfile.get(entry.profileId) ?? [];
    list.push(entry);
    byProfile.set(entry.profileId, list);
  }
  const totals: CallsPerRefresh = { refreshes: 0, dynamoDbWritesBeforeGrant: 0, dynamoDbWritesAfterGrant: 0, dynamoDbReads: 0, secretsManagerReads: 0, secretsManagerWrites: 0 };
  for (const list of byProfile.values()) {
    const grants = list.filter((entry) => entry.service === 'grant' && entry.command === 'refresh_token');
    if (grants.length !== 1) continue;
    totals.refreshes++;
    const grantIndex = list.indexOf(grants[0]!);
    list.forEach((entry, index) => {
      if (entry.service === 'DynamoDB') {
        if (!DYNAMODB_WRITES.has(entry.command)) totals.dynamoDbReads++;
        else if (index < grantIndex) totals.dynamoDbWritesBeforeGrant++;
        else totals.dynamoDbWritesAfterGrant++;
      } else if (entry.service === 'SecretsManager') {
        if (SECRETS_MANAGER_WRITES.has(entry.command)) totals.secretsManagerWrites++;
        else totals.secretsManagerReads++;
      }
    });
  }
  const n = Math.max(1, totals.refreshes);
  return {
    refreshes: totals.refreshes,
    dynamoDbWritesBeforeGrant: totals.dynamoDbWritesBeforeGrant / n,
    dynamoDbWritesAfterGrant: totals.dynamoDbWritesAfterGrant / n,
    dynamoDbReads: totals.dynamoDbReads / n,
    secretsManagerReads: totals.secretsManagerReads / n,
    secretsManagerWrites: totals.secretsManagerWrites / n,
  };
}

/**
 * Token-set writes per second after the budget's opening burst: the rate the job settles at. `start` is
 * performance.now() when the run began.
 */
export function steadyWriteRate(entries: readonly LedgerEntry[], start: number, burst: number): number {
  const writes = entries.filter((entry) => entry.service === 'SecretsManager' && entry.command === 'PutSecretValueCommand' && entry.at >= start);
  if (writes.length <= burst + 1) return NaN;
  const last = writes.at(-1)!.at;
  return (writes.length - burst) / ((last - start) / 1000);
}
