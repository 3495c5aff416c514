/**
 * The broker's data (docs/design.md "Shape"): the DynamoDB table (profiles, status, pending
 * authorizations, leases) and the KMS key of the secrets, with the key policy that keeps the secrets
 * readable only by the broker's functions and the environment's named admin roles.
 */
import { Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../lib/adapters/dynamodb-profile-store.js';
import type { SecretKind } from '../../lib/functions.js';
import type { EnvironmentSettings } from '../environments.js';

/**
 * Administration of the key, for the account (and so for whoever the account's IAM policies allow):
 * everything except using it. Not `kms:Create*` (it holds `kms:CreateGrant`, which would let an
 * administrator grant itself `kms:Decrypt`) and no cryptographic operation.
 */
export const KEY_ADMIN_ACTIONS = [
  'kms:CreateAlias',
  'kms:DeleteAlias',
  'kms:UpdateAlias',
  'kms:DescribeKey',
  'kms:GetKeyPolicy',
  'kms:PutKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:EnableKeyRotation',
  'kms:DisableKeyRotation',
  'kms:RotateKeyOnDemand',
  'kms:ListResourceTags',
  'kms:ListAliases',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListKeyRotations',
  'kms:RevokeGrant',
  'kms:RetireGrant',
  'kms:EnableKey',
  'kms:DisableKey',
  'kms:UpdateKeyDescription',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
];

/** What Secrets Manager does with the key for a principal: decrypt to read a secret, a data key to write one. */
export const SECRETS_KEY_USE_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'];

export interface BrokerDataProps {
  readonly settings: EnvironmentSettings;
}

export class BrokerData extends Construct {
  readonly table: dynamodb.Table;
  readonly secretsKey: kms.Key;
  /** `<secretPrefix>/<env>`: every secret of the environment is named `<this>/<profileId>/<kind>`. */
  readonly secretPrefix: string;
  readonly #settings: EnvironmentSettings;
  readonly #keyUsers: iam.IRole[] = [];

  constructor(scope: Construct, id: string, { settings }: BrokerDataProps) {
    super(scope, id);
    this.#settings = settings;
    const keep = settings.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    this.secretPrefix = `${settings.secretPrefix}/${settings.name}`;

    const { partitionKey, sortKey, ttlAttribute, indexes } = TABLE_SCHEMA;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: ttlAttribute,
      deletionProtection: settings.retainData,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: keep,
    });
    for (const index of Object.values(indexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    const stack = Stack.of(this);
    // A key policy of our own (no `kms:*` for the account): administration stays with the account, but
    // using the key needs a principal named below, so that an account-wide `kms:Decrypt` on `*` (common in
    // admin policies) does not open every client secret and refresh token.
    this.secretsKey = new kms.Key(this, 'SecretsKey', {
      description: `oauth-broker ${settings.name}: encrypts the client secrets and token sets under ${this.secretPrefix}/`,
      alias: `alias/${this.secretPrefix.replace(/[^A-Za-z0-9/_-]/g, '-')}`,
      enableKeyRotation: true,
      removalPolicy: keep,
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: 'KeyAdministrationByTheAccount',
            principals: [new iam.AccountRootPrincipal()],
            actions: KEY_ADMIN_ACTIONS,
            resources: ['*'],
          }),
        ],
      }),
    });
    // Added at synthesis: the functions' roles are registered after the key is made.
    this.secretsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'SecretsThroughSecretsManagerForBrokerAndAdminRoles',
        principals: [new iam.AccountRootPrincipal()],
        actions: SECRETS_KEY_USE_ACTIONS,
        resources: ['*'],
        conditions: {
          StringEquals: {
            'kms:ViaService': `secretsmanager.${stack.region}.${stack.urlSuffix}`,
            'kms:CallerAccount': stack.account,
          },
          StringLike: { 'kms:EncryptionContext:SecretARN': this.secretArn('*') },
          ArnEquals: { 'aws:PrincipalArn': this.#keyUserArns() },
        },
      }),
    );
  }

  /** Lets `role` use the secrets key through Secrets Manager (the key policy names it). */
  addSecretsKeyUser(role: iam.IRole): void {
    this.#keyUsers.push(role);
  }

  /** The key policy's list of principals: the registered roles and the environment's admin roles, resolved late. */
  #keyUserArns(): string[] {
    const admins = this.#settings.secretsAdminRoleArns ?? [];
    return Lazy.list({ produce: () => [...this.#keyUsers.map((r) => r.roleArn), ...admins] });
  }

  /** ARN of a secret name (or pattern) under this environment's prefix, e.g. `secretArn('erp/token-set-AbCdEf')`. */
  secretArn(rest: string): string {
    const stack = Stack.of(this);
    return `arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:${this.secretPrefix}/${rest}`;
  }

  /**
   * The ARN pattern of one kind of secret of every profile (cdk/permissions.ts says why each form):
   * `existing` ends in `-??????` (the suffix Secrets Manager adds), `missing` is the name alone (what IAM
   * evaluates for a secret that does not exist), `create` is `*` (CreateSecret runs before the suffix exists).
   */
  secretArnPattern(kind: SecretKind, form: 'existing' | 'missing' | 'create' = 'existing'): string {
    return this.secretArn(`*/${kind}${{ existing: '-??????', missing: '', create: '*' }[form]}`);
  }
}
