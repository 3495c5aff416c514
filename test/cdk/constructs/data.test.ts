/**
 * cdk/constructs/data.ts: the table the DynamoDB adapter expects and the secrets key, whose policy keeps
 * administration with the account and lets only the registered roles and the named admin roles use it.
 */
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { BrokerData } from '../../../cdk/constructs/data.js';
import { environments } from '../../../cdk/environments.js';
import { TABLE_SCHEMA } from '../../../lib/adapters/dynamodb-profile-store.js';
import { type Cfn, resources, synthesized, focusedStack } from '../support.js';

describe('BrokerData on its own', () => {
  it('names in its key policy exactly the roles registered as key users and the environment\'s admin roles', () => {
    // Prepare
    const stack = focusedStack({ env: { account: '111122223333', region: 'eu-west-1' } });
    const settings = { ...environments.prod, secretsAdminRoleArns: ['arn:aws:iam::111122223333:role/break-glass'] };
    const data = new BrokerData(stack, 'Data', { settings });
    const role = new iam.Role(stack, 'Worker', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });

    // Act
    data.addSecretsKeyUser(role);
    const template = Template.fromStack(stack);

    // Assess
    const policy = Object.values(resources(template, 'AWS::KMS::Key'))[0]!.Properties!.KeyPolicy;
    const [admin, use] = policy.Statement as Cfn[];
    expect(admin).toMatchObject({ Sid: 'KeyAdministrationByTheAccount', Principal: { AWS: 'arn:aws:iam::111122223333:root' } });
    expect(admin.Action).not.toContain('kms:Decrypt');
    expect(admin.Action.some((a: string) => /^kms:(Create\*|CreateGrant|Encrypt|GenerateDataKey|ReEncrypt)/.test(a))).toBe(false);
    expect(use).toMatchObject({
      Sid: 'SecretsThroughSecretsManagerForBrokerAndAdminRoles',
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Condition: {
        StringEquals: {
          // The partition's own DNS suffix (amazonaws.com, amazonaws.com.cn, …).
          'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.eu-west-1.', { Ref: 'AWS::URLSuffix' }]] },
          'kms:CallerAccount': '111122223333',
        },
        StringLike: { 'kms:EncryptionContext:SecretARN': 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:oauth-broker/prod/*' },
      },
    });
    expect(use.Condition.ArnEquals['aws:PrincipalArn']).toEqual([{ 'Fn::GetAtt': [Object.keys(resources(template, 'AWS::IAM::Role'))[0], 'Arn'] }, 'arn:aws:iam::111122223333:role/break-glass']);
    expect(data.secretArnPattern('token-set')).toBe('arn:aws:secretsmanager:eu-west-1:111122223333:secret:oauth-broker/prod/*/token-set-??????');
  });
});

describe('the data of the dev stack', () => {
  const dev = synthesized({ env: 'dev' });

  it('creates the table the adapter expects: on-demand, point-in-time recovery, TTL, both indexes', () => {
    dev.template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const table = Object.values(resources(dev.template, 'AWS::DynamoDB::Table'))[0]!;
    const p = table.Properties!;
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(p.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
    expect(p.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    const gsis: Record<string, Cfn> = Object.fromEntries((p.GlobalSecondaryIndexes as Cfn[]).map((g) => [g.IndexName, g]));
    expect(Object.keys(gsis).sort()).toEqual(['due', 'gsi1']);
    expect(gsis.gsi1.KeySchema).toEqual([
      { AttributeName: 'gsi1pk', KeyType: 'HASH' },
      { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
    ]);
    expect(gsis.due.KeySchema).toEqual([
      { AttributeName: 'duePk', KeyType: 'HASH' },
      { AttributeName: 'dueAt', KeyType: 'RANGE' },
    ]);
    for (const g of Object.values(gsis)) expect(g.Projection).toEqual({ ProjectionType: 'ALL' });
    for (const a of p.AttributeDefinitions as { AttributeType: string }[]) expect(a.AttributeType).toBe('S');
    // The adapter's own description of the schema agrees.
    expect(TABLE_SCHEMA.indexes.due).toEqual({ indexName: 'due', partitionKey: 'duePk', sortKey: 'dueAt' });
    // dev may be destroyed.
    expect(table.DeletionPolicy).toBe('Delete');
    expect(p.DeletionProtectionEnabled).toBe(false);
  });

  it('uses customer-managed KMS keys, the symmetric ones with rotation', () => {
    const keys = Object.values(resources(dev.template, 'AWS::KMS::Key'));
    // Asymmetric signing keys cannot rotate in KMS: the broker's key ring rotates them (docs/keys.md).
    const symmetric = keys.filter((key) => key.Properties!.KeySpec === undefined || key.Properties!.KeySpec === 'SYMMETRIC_DEFAULT');
    expect(symmetric.length).toBeGreaterThanOrEqual(1);
    for (const key of symmetric) expect(key.Properties!.EnableKeyRotation).toBe(true);
    expect(keys.filter((key) => !symmetric.includes(key)).map((key) => key.Properties!.KeyUsage)).toEqual(['SIGN_VERIFY']);
    dev.template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/oauth-broker/dev' });
  });
});

describe('the data of the prod stack', () => {
  const prod = synthesized({ env: 'prod' });

  it('keeps the table and the key, with deletion protection (retainData)', () => {
    const table = Object.values(resources(prod.template, 'AWS::DynamoDB::Table'))[0]!;
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.Properties!.DeletionProtectionEnabled).toBe(true);
    expect(table.Properties!.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    for (const key of Object.values(resources(prod.template, 'AWS::KMS::Key'))) expect(key.DeletionPolicy).toBe('Retain');
  });
});
