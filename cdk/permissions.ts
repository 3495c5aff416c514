/**
 * Least privilege, derived: the IAM statements of each function's role, built from the AWS calls its code
 * sends (lib/functions.ts) and nothing else.
 *
 * - Item actions on the table ARN, each limited to the items it may touch by their leading key
 *   (`dynamodb:LeadingKeys`: `PROFILE#…` for profiles, `STATE#…` for pending authorizations); `Query` on
 *   the named indexes only.
 * - Secrets Manager actions on `<prefix>/<any id>/client-secret` and/or `…/token-set`, in the forms below;
 *   KMS through Secrets Manager only (`kms:ViaService`, the secret ARN as encryption context):
 *   `kms:Decrypt` to read, `kms:GenerateDataKey` to write (no `kms:Encrypt`: Secrets Manager never
 *   calls it for a principal), `kms:DescribeKey` with `CreateSecret`.
 * - `kms:Sign` on each signing key by its ARN, only with that key's algorithm (`kms:SigningAlgorithm`), and
 *   `kms:GetPublicKey` on the same ARNs, for the functions that sign `private_key_jwt` assertions.
 * - `events:PutEvents` on the default bus, only when every entry has source `oauth-broker`
 *   (`events:source` is multivalued: a set operator, and a `Null` check so that a request without the key
 *   does not pass vacuously).
 *
 * Secret ARNs, and why each action is granted on two of them:
 *
 * - An existing secret's ARN is its name plus `-` and six random characters, so the actions on existing
 *   secrets (`GetSecretValue`, `PutSecretValue`, `DeleteSecret`) are granted on `…/<kind>-??????`.
 * - A request naming a secret that does not exist (yet, or any more) has no such ARN: IAM then evaluates it
 *   against the ARN built from the name alone, `…/<kind>`, with no suffix. Granted only `-??????`, such a
 *   request is refused with `AccessDeniedException` before Secrets Manager can answer
 *   `ResourceNotFoundException`, and the vault (lib/adapters/secrets-manager-vault.ts) cannot tell "missing"
 *   from "forbidden". So the same actions are also granted on the suffix-less `…/<kind>`, which matches no
 *   existing secret.
 * - `CreateSecret` (and the `TagResource` it implies, since secrets are created tagged) is evaluated before
 *   the suffix exists: it is granted on `…/<kind>*`, only with the profile-id tag key.
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import { Stack } from 'aws-cdk-lib';
import { TABLE_SCHEMA } from '../lib/adapters/dynamodb-profile-store.js';
import { PROFILE_ID_TAG } from '../lib/adapters/secrets-manager-vault.js';
import { EVENT_SOURCE } from '../lib/event-names.js';
import { FUNCTIONS, itemKeyPattern, type FunctionKey, type ItemKind, type SecretKind } from '../lib/functions.js';
import type { BrokerData } from './constructs/data.js';
import type { SigningKey } from './constructs/signing-keys.js';

export interface GrantTargets {
  readonly data: BrokerData;
  /** The environment's signing keys (cdk/constructs/signing-keys.ts); none: no KMS signing grants. */
  readonly signingKeys?: readonly SigningKey[];
}

const pascal = (s: string) => s.replace(/(^|[-:])(\w)/g, (_, __, c: string) => c.toUpperCase());

/** The statements of `key`'s role, and the secret-ARN patterns among their resources (for cdk-nag). */
export function functionStatements(key: FunctionKey, { data, signingKeys = [] }: GrantTargets): { statements: iam.PolicyStatement[]; secretPatterns: string[] } {
  const { calls } = FUNCTIONS[key];
  const stack = Stack.of(data);
  const statements: iam.PolicyStatement[] = [];

  // One statement per set of item kinds, so that each action is limited to exactly its items.
  const byItems = new Map<string, string[]>();
  for (const [action, items] of Object.entries(calls.items ?? {})) {
    const kinds = [...items].sort().join(',');
    byItems.set(kinds, [...(byItems.get(kinds) ?? []), action]);
  }
  for (const [kinds, actions] of byItems) {
    const prefixes = kinds.split(',').map((k) => itemKeyPattern(k as ItemKind));
    statements.push(
      new iam.PolicyStatement({
        sid: `Items${kinds.split(',').map(pascal).join('And')}`,
        actions: actions.sort(),
        resources: [data.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': prefixes } },
      }),
    );
  }
  if (calls.queryIndexes?.length) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'QueryIndexes',
        actions: ['dynamodb:Query'],
        resources: calls.queryIndexes.map((index) => `${data.table.tableArn}/index/${TABLE_SCHEMA.indexes[index].indexName}`),
      }),
    );
  }

  const secretPatterns: string[] = [];
  const kinds: SecretKind[] = ['client-secret', 'token-set'];
  let reads = false;
  let writes = false;
  let creates = false;
  for (const kind of kinds) {
    const actions = Object.entries(calls.secrets ?? {})
      .filter(([, on]) => on.includes(kind))
      .map(([action]) => action);
    const plain = actions.filter((a) => a !== 'secretsmanager:CreateSecret').sort();
    const sidKind = pascal(kind);
    if (plain.length > 0) {
      // The existing secret, and the suffix-less name, so that a missing secret is ResourceNotFound.
      const arns = [data.secretArnPattern(kind, 'existing'), data.secretArnPattern(kind, 'missing')];
      secretPatterns.push(...arns);
      statements.push(new iam.PolicyStatement({ sid: sidKind, actions: plain, resources: arns }));
    }
    if (actions.includes('secretsmanager:CreateSecret')) {
      const arn = data.secretArnPattern(kind, 'create');
      secretPatterns.push(arn);
      statements.push(
        new iam.PolicyStatement({
          sid: `Create${sidKind}`,
          actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
          resources: [arn],
          // Secrets are created tagged with the profile id, and with no other tag.
          conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [PROFILE_ID_TAG] } },
        }),
      );
      creates = true;
    }
    reads ||= actions.includes('secretsmanager:GetSecretValue');
    writes ||= actions.some((a) => a === 'secretsmanager:PutSecretValue' || a === 'secretsmanager:CreateSecret');
  }
  const via = { 'kms:ViaService': `secretsmanager.${stack.region}.${stack.urlSuffix}` };
  const kmsActions = [...(reads ? ['kms:Decrypt'] : []), ...(writes ? ['kms:GenerateDataKey'] : [])];
  if (kmsActions.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'SecretsKeyThroughSecretsManager',
        actions: kmsActions,
        resources: [data.secretsKey.keyArn],
        conditions: {
          StringEquals: via,
          // Secrets Manager passes the secret's ARN as encryption context: only secrets under the prefix.
          StringLike: { 'kms:EncryptionContext:SecretARN': data.secretArn('*') },
        },
      }),
    );
  }
  if (creates) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'DescribeSecretsKey',
        actions: ['kms:DescribeKey'],
        resources: [data.secretsKey.keyArn],
        conditions: { StringEquals: via },
      }),
    );
  }

  if (calls.putEvents) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'PublishStatusChanges',
        actions: ['events:PutEvents'],
        resources: [stack.formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' })],
        conditions: {
          'ForAllValues:StringEquals': { 'events:source': [EVENT_SOURCE] },
          Null: { 'events:source': 'false' },
        },
      }),
    );
  }

  const keyActions = calls.signingKeys ?? [];
  if (keyActions.includes('kms:Sign')) {
    // One statement per key: its ARN and its algorithm only (an ES256 key never signs RSA, and the reverse).
    for (const [i, k] of signingKeys.entries()) {
      statements.push(
        new iam.PolicyStatement({
          sid: `SignWithSigningKey${i}`,
          actions: ['kms:Sign'],
          resources: [k.key.keyArn],
          conditions: { StringEquals: { 'kms:SigningAlgorithm': k.signingAlgorithm } },
        }),
      );
    }
  }
  if (keyActions.includes('kms:GetPublicKey') && signingKeys.length > 0) {
    statements.push(new iam.PolicyStatement({ sid: 'ReadSigningPublicKeys', actions: ['kms:GetPublicKey'], resources: signingKeys.map((k) => k.key.keyArn) }));
  }
  return { statements, secretPatterns };
}

/** Whether `key`'s code touches secrets at all (then its role is a user of the secrets key). */
export const usesSecrets = (key: FunctionKey): boolean => Object.keys(FUNCTIONS[key].calls.secrets ?? {}).length > 0;
