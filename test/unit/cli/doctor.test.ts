/**
 * `oauth-broker doctor` (lib/cli/doctor.ts) through the CLI's `main`, with every AWS client mocked
 * (aws-sdk-client-mock) and the callback fetched from a fake: what it asks AWS, what it prints, and its
 * exit code.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeContinuousBackupsCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeRuleCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient, SimulatePrincipalPolicyCommand, type SimulatePrincipalPolicyCommandInput } from '@aws-sdk/client-iam';
import { GetKeyPolicyCommand, GetKeyRotationStatusCommand, KMSClient } from '@aws-sdk/client-kms';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { parseRoleArns } from '../../../lib/cli/doctor.js';
import { awsRequests, functionKeys } from '../../../lib/functions.js';
import { run } from './run.js';

const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';
const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0f2a1e63-0000-4000-8000-000000000000`;
const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:OAuthBroker-prod-AlarmTopic`;
const CALLBACK_URL = `https://a1b2c3d4e5.execute-api.${REGION}.amazonaws.com/prod/callback`;
const roleArn = (key: string) => `arn:aws:iam::${ACCOUNT}:role/OAuthBroker-prod-Functions${key}Role-ABC`;
const ROLE_ARNS = functionKeys().map((key) => `${key}=${roleArn(key)}`).join(',');
const KEY_POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [] });
const SIGNING_KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/5e1d2c3b-0000-4000-8000-000000000000`;
const SIGNING_KEY_POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'SignForBrokerSigningRoles' }] });

const cfn = mockClient(CloudFormationClient);
const iam = mockClient(IAMClient);
const sns = mockClient(SNSClient);
const events = mockClient(EventBridgeClient);
const ddb = mockClient(DynamoDBClient);
const kms = mockClient(KMSClient);

afterAll(() => {
  for (const m of [cfn, iam, sns, events, ddb, kms]) m.restore();
});

const outputs = (overrides: Record<string, string | undefined> = {}) =>
  Object.entries({
    CallbackUrl: CALLBACK_URL,
    TableName: 'OAuthBroker-prod-DataTable-XYZ',
    SecretsKeyArn: KEY_ARN,
    SecretNamePrefix: 'oauth-broker/prod/',
    AlarmTopicArn: TOPIC_ARN,
    RefreshScheduleRuleName: 'OAuthBroker-prod-ScheduleRule-XYZ',
    FunctionRoleArns: ROLE_ARNS,
    SigningKeyArns: `ES256=${SIGNING_KEY_ARN}`,
    ...overrides,
  })
    .filter(([, v]) => v !== undefined)
    .map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue }));

/** A healthy prod environment; tests break one thing each. */
function healthy(): void {
  cfn.on(DescribeStacksCommand).resolves({
    Stacks: [{ StackName: 'OAuthBroker-prod', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), EnableTerminationProtection: true, Outputs: outputs() }],
  });
  iam.on(SimulatePrincipalPolicyCommand).callsFake((input: SimulatePrincipalPolicyCommandInput) => ({
    EvaluationResults: (input.ActionNames ?? []).map((EvalActionName) => ({ EvalActionName, EvalResourceName: input.ResourceArns?.[0], EvalDecision: 'allowed' })),
  }));
  sns.on(ListSubscriptionsByTopicCommand).resolves({
    Subscriptions: [{ SubscriptionArn: `${TOPIC_ARN}:0f2a1e63`, Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: TOPIC_ARN }],
  });
  events.on(DescribeRuleCommand).resolves({ Name: 'OAuthBroker-prod-ScheduleRule-XYZ', State: 'ENABLED', ScheduleExpression: 'rate(5 minutes)' });
  ddb.on(DescribeContinuousBackupsCommand).resolves({
    ContinuousBackupsDescription: { ContinuousBackupsStatus: 'ENABLED', PointInTimeRecoveryDescription: { PointInTimeRecoveryStatus: 'ENABLED' } },
  });
  ddb.on(DescribeTableCommand).resolves({ Table: { TableName: 'OAuthBroker-prod-DataTable-XYZ', DeletionProtectionEnabled: true } });
  kms.on(GetKeyRotationStatusCommand).resolves({ KeyRotationEnabled: true, RotationPeriodInDays: 365 });
  kms.on(GetKeyPolicyCommand).resolves({ Policy: KEY_POLICY, PolicyName: 'default' });
  kms.on(GetKeyPolicyCommand, { KeyId: SIGNING_KEY_ARN }).resolves({ Policy: SIGNING_KEY_POLICY, PolicyName: 'default' });
}

interface Fetched {
  url: string;
  headers: Headers;
}
let fetched: Fetched[];
const callbackAnswering = (status: number, contentType: string) =>
  (async (url: string | URL | Request, init?: RequestInit) => {
    fetched.push({ url: String(url), headers: new Headers(init?.headers) });
    return new Response('<!doctype html><title>Authorization failed</title>', { status, headers: { 'content-type': contentType } });
  }) as typeof fetch;
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret-example' };
const doctor = (args: string[] = ['prod', '--region', REGION], fetchFn = callbackAnswering(400, 'text/html; charset=utf-8')) =>
  run(['doctor', ...args], { fetch: fetchFn, credentials });

beforeEach(() => {
  for (const m of [cfn, iam, sns, events, ddb, kms]) m.reset();
  fetched = [];
  healthy();
});

describe('oauth-broker doctor', () => {
  it('exits 0 with a ✓ per check when the environment is healthy', async () => {
    // Act
    const { code, stdout, stderr } = await doctor();

    // Assess
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('✗'))).toEqual([]);
    expect(lines.map((l) => l.replace(/:.*$/, ''))).toEqual([
      '✓ stack OAuthBroker-prod',
      ...functionKeys().map((key) => `✓ ${key} role`),
      '✓ alarm topic',
      '✓ refresh schedule',
      '✓ table',
      '✓ table',
      '✓ secrets key',
      '✓ callback URL',
      'All 14 checks passed.',
    ]);
    expect(cfn.commandCalls(DescribeStacksCommand)[0]!.args[0].input).toEqual({ StackName: 'OAuthBroker-prod' });
  });

  it('asks IAM\'s simulator about every call of every function, on its role, the exact ARNs and the key policy for KMS', async () => {
    // Act
    await doctor();

    // Assess
    const asked = iam.commandCalls(SimulatePrincipalPolicyCommand).map((c) => c.args[0].input);
    const place = {
      partition: 'aws',
      region: REGION,
      account: ACCOUNT,
      tableName: 'OAuthBroker-prod-DataTable-XYZ',
      secretNamePrefix: 'oauth-broker/prod/',
      secretsKeyArn: KEY_ARN,
      signingKeys: [{ keyArn: SIGNING_KEY_ARN, signingAlgorithm: 'ECDSA_SHA_256' }],
    };
    const expected = functionKeys().flatMap((key) =>
      awsRequests(key, place, 'doctor-probe', 'doctor').map((r) => `${roleArn(key)} ${r.action} ${r.resource}${r.keyPolicy ? ' +key policy' : ''}`),
    );
    expect(asked.map((i) => `${i.PolicySourceArn} ${i.ActionNames!.join()} ${i.ResourceArns!.join()}${i.ResourcePolicy ? ' +key policy' : ''}`)).toEqual(expected);
    // The defect of the issue: the callback's DeleteSecret, on an existing secret's ARN (6-character suffix).
    expect(expected).toContain(
      `${roleArn('callback')} secretsmanager:DeleteSecret arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:oauth-broker/prod/doctor-probe/token-set-doctor`,
    );
    // The key policy names the roles by aws:PrincipalArn: each request says who asks.
    for (const i of asked) {
      expect(i.ContextEntries).toContainEqual({ ContextKeyName: 'aws:PrincipalArn', ContextKeyValues: [i.PolicySourceArn], ContextKeyType: 'string' });
    }
    const putEvents = asked.find((i) => i.ActionNames![0] === 'events:PutEvents')!;
    expect(putEvents.ContextEntries).toContainEqual({ ContextKeyName: 'events:source', ContextKeyValues: ['oauth-broker'], ContextKeyType: 'stringList' });
    // Signing (output SigningKeyArns): kms:Sign on the signing key with its pinned algorithm and that key's own policy.
    const signs = asked.filter((i) => i.ActionNames![0] === 'kms:Sign');
    expect(signs.map((i) => i.PolicySourceArn).sort()).toEqual(['callback', 'keys', 'profiles', 'refresh', 'token'].map(roleArn).sort());
    for (const i of signs) {
      expect(i.ResourceArns).toEqual([SIGNING_KEY_ARN]);
      expect(i.ResourcePolicy).toBe(SIGNING_KEY_POLICY);
      expect(i.ContextEntries).toContainEqual({ ContextKeyName: 'kms:SigningAlgorithm', ContextKeyValues: ['ECDSA_SHA_256'], ContextKeyType: 'string' });
    }
    expect(asked.filter((i) => i.ActionNames![0] === 'kms:Decrypt').every((i) => i.ResourcePolicy === KEY_POLICY)).toBe(true);
    // An unsigned GET without parameters, nothing else.
    expect(fetched.map((f) => f.url)).toEqual([CALLBACK_URL]);
    expect(fetched[0]!.headers.get('authorization')).toBeNull();
  });

  it('names the refused call and says what to do, and exits 1', async () => {
    // Prepare: the callback's role may not delete secrets (the grant the stack used to miss).
    iam.on(SimulatePrincipalPolicyCommand).callsFake((input: SimulatePrincipalPolicyCommandInput) => ({
      EvaluationResults: (input.ActionNames ?? []).map((EvalActionName) => ({
        EvalActionName,
        EvalDecision: input.PolicySourceArn === roleArn('callback') && EvalActionName === 'secretsmanager:DeleteSecret' ? 'implicitDeny' : 'allowed',
      })),
    }));

    // Act
    const { code, stdout } = await doctor();

    // Assess
    expect(code).toBe(1);
    expect(stdout).toContain(
      '✗ callback role: the AWS calls its code sends: refused: secretsmanager:DeleteSecret existing token-set (implicitDeny); secretsmanager:DeleteSecret missing token-set (implicitDeny)',
    );
    expect(stdout).toContain('    Redeploy the stack (npx cdk deploy)');
    expect(stdout.match(/^✗/gm)).toHaveLength(1);
    expect(stdout).toContain('1 of 14 checks failed.');
  });

  it('✗ for alarms that reach nobody: none subscribed, or only a pending confirmation', async () => {
    sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [] });
    const none = await doctor();
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('✗ alarm topic: someone receives the alarms: no subscription: alarms reach nobody');
    expect(none.stdout).toContain(`aws sns subscribe --topic-arn ${TOPIC_ARN} --protocol email`);

    sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [{ SubscriptionArn: 'PendingConfirmation', Endpoint: 'oncall@example.com' }] });
    const pending = await doctor();
    expect(pending.code).toBe(1);
    expect(pending.stdout).toContain('✗ alarm topic: someone receives the alarms: 0 confirmed, 1 pending');
    expect(pending.stdout).toContain('Confirm the subscription of oncall@example.com');
  });

  it('✗ for a disabled schedule, a table without recovery or protection, a key that does not rotate, a callback that is not the broker\'s', async () => {
    events.on(DescribeRuleCommand).resolves({ Name: 'OAuthBroker-prod-ScheduleRule-XYZ', State: 'DISABLED' });
    ddb.on(DescribeContinuousBackupsCommand).resolves({ ContinuousBackupsDescription: { ContinuousBackupsStatus: 'ENABLED', PointInTimeRecoveryDescription: { PointInTimeRecoveryStatus: 'DISABLED' } } });
    ddb.on(DescribeTableCommand).resolves({ Table: { DeletionProtectionEnabled: false } });
    kms.on(GetKeyRotationStatusCommand).resolves({ KeyRotationEnabled: false });

    const { code, stdout } = await doctor(undefined, callbackAnswering(403, 'application/json'));

    expect(code).toBe(1);
    expect(stdout).toContain('✗ refresh schedule: enabled: OAuthBroker-prod-ScheduleRule-XYZ is DISABLED');
    expect(stdout).toContain('aws events enable-rule --name OAuthBroker-prod-ScheduleRule-XYZ');
    expect(stdout).toContain('✗ table: point-in-time recovery: DISABLED');
    expect(stdout).toContain('✗ table: deletion protection: off, although this environment retains its data');
    expect(stdout).toContain(`✗ secrets key: automatic rotation: disabled\n    Enable it: aws kms enable-key-rotation --key-id ${KEY_ARN}`);
    expect(stdout).toContain(`✗ callback URL: reachable: ${CALLBACK_URL} answered 403 application/json, not the broker's 400 page`);
    expect(stdout).toContain('5 of 14 checks failed.');
  });

  it('✓ for an unprotected table in an environment that does not keep its data (dev)', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'OAuthBroker-dev', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), EnableTerminationProtection: false, Outputs: outputs() }],
    });
    ddb.on(DescribeTableCommand).resolves({ Table: { DeletionProtectionEnabled: false } });
    const { code, stdout } = await doctor(['dev', '--region', REGION]);
    expect(stdout).toContain('✓ table: deletion protection: off, as this environment does not retain its data');
    expect(code).toBe(0);
  });

  it('a stack that is not there, or is too old to have the outputs, is one ✗ with the command that fixes it', async () => {
    cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('Stack with id OAuthBroker-qa does not exist'), { name: 'ValidationError' }));
    const missing = await doctor(['qa', '--region', REGION]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('✗ stack OAuthBroker-qa: ValidationError: Stack with id OAuthBroker-qa does not exist');
    expect(missing.stdout).toContain('npx cdk deploy -c env=<name>');
    expect(iam.commandCalls(SimulatePrincipalPolicyCommand)).toHaveLength(0);

    cfn.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'OAuthBroker-prod', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: outputs({ FunctionRoleArns: undefined }) }] });
    const old = await doctor();
    expect(old.stdout).toContain('✗ stack OAuthBroker-prod: has no output FunctionRoleArns');
    expect(old.stdout).toContain('run npx cdk deploy again');
  });

  it('--stack names the stack, and --json prints the checks as data', async () => {
    const { code, stdout } = await doctor(['--stack', 'Broker-Blue', '--region', REGION, '--json']);
    expect(code).toBe(0);
    expect(cfn.commandCalls(DescribeStacksCommand)[0]!.args[0].input).toEqual({ StackName: 'Broker-Blue' });
    const report = JSON.parse(stdout) as { stack: string; region: string; ok: boolean; checks: { check: string; ok: boolean; detail: string }[] };
    expect(report).toMatchObject({ stack: 'Broker-Blue', region: REGION, ok: true });
    expect(report.checks).toHaveLength(14);
  });

  it('is a usage error without an environment or a region, before any AWS call', async () => {
    const noEnv = await doctor(['--region', REGION]);
    expect(noEnv.code).toBe(2);
    expect(noEnv.stderr).toContain('"doctor" needs the environment (oauth-broker doctor prod) or --stack <name>');
    const noRegion = await run(['doctor', 'prod'], { env: {} });
    expect(noRegion.code).toBe(2);
    expect(noRegion.stderr).toContain('pass --region or set AWS_REGION');
    expect(cfn.commandCalls(DescribeStacksCommand)).toHaveLength(0);
  });

  it('reads the FunctionRoleArns output', () => {
    expect(parseRoleArns('profiles=arn:aws:iam::1:role/a, token=arn:aws:iam::1:role/b')).toEqual({
      profiles: 'arn:aws:iam::1:role/a',
      token: 'arn:aws:iam::1:role/b',
    });
  });
});
