/**
 * The synthesized dev and prod templates (and a variant with `allowedPrincipals` and named admin roles),
 * evaluated by a real IAM policy engine (test/cdk/policy-engine.ts): every AWS call each function's code
 * sends (lib/functions.ts) is allowed on the exact ARNs AWS evaluates and denied on another environment's
 * resources; the KMS key policy, the alarm topic policy, the API resource policy and the consumer
 * policies do what docs/doctor.md "Policies" says.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { functionKeys, type FunctionKey } from '../../lib/functions.js';
import { tokenPolicy } from '../../lib/cli/policy.js';
import {
  ACCOUNT,
  ACCOUNT_ADMIN,
  ALLOW_EVERYTHING,
  anonymousPrincipal,
  attachedPolicies,
  callRequests,
  deployEdited,
  deployedEnvironments,
  evaluate,
  evaluateCalls,
  identityPolicies,
  OTHER_ACCOUNT,
  PROFILE_ID,
  REGION,
  roleId,
  type Decision,
  type Deployed,
} from './policy-engine.js';
import type { Cfn } from './support.js';

const TIMEOUT = 120_000;
const ADMIN_ROLE = `arn:aws:iam::${ACCOUNT}:role/broker-break-glass`;

const denied = (results: { label: string; decision: Decision }[]) => results.filter((r) => r.decision !== 'Allowed').map((r) => r.label);
const allowed = (results: { label: string; decision: Decision }[]) => results.filter((r) => r.decision === 'Allowed').map((r) => r.label);

const { templates, deployed } = deployedEnvironments(
  {
    restricted: {
      env: 'prod',
      overrides: {
        allowedPrincipals: {
          admin: { arns: [`arn:aws:iam::${ACCOUNT}:role/broker-admin`, `arn:aws:iam::${OTHER_ACCOUNT}:role/remote-admin`] },
          token: { arns: [`arn:aws:iam::${ACCOUNT}:role/mes-*`, `arn:aws:iam::${OTHER_ACCOUNT}:role/erp-sync`], organizationIds: ['o-a1b2c3d4e5'] },
        },
        secretsAdminRoleArns: [ADMIN_ROLE],
      },
    },
  },
  TIMEOUT,
);

describe.each(['dev', 'prod', 'restricted'])('function roles of %s', (name) => {
  it.each(functionKeys())('%s: every AWS call its code sends is allowed, on the exact ARNs, with the key policy for KMS', async (key) => {
    // Act
    const results = await evaluateCalls(deployed[name]!, key);

    // Assess
    expect(results.length).toBeGreaterThan(0);
    expect(denied(results)).toEqual([]);
  }, TIMEOUT);

  it.each(functionKeys())("%s: the same calls on the other environment's table, secrets and key are denied", async (key) => {
    // Prepare: dev's functions against prod's resources, prod's (and the variant's) against dev's.
    const other = deployed[name === 'dev' ? 'prod' : 'dev']!;

    // Act
    const results = await evaluateCalls(deployed[name]!, key, other);

    // Assess: the default event bus is the account's, shared by all environments (their events are told
    // apart by detail.environment), so PutEvents is the one call that may pass.
    expect(allowed(results).filter((label) => !label.startsWith('PutEvents'))).toEqual([]);
  }, TIMEOUT);
});

describe('the grants are exactly the code\'s needs', () => {
  let dev: Deployed;
  const ask = async (key: FunctionKey, action: string, resource: string, context: Record<string, string | string[]> = {}) => {
    const role = roleId(dev, key);
    return evaluate({ principal: dev.arn(role), action, resource, context, identityPolicies: identityPolicies(dev, role) });
  };
  const table = () => dev.arn(dev.id('AWS::DynamoDB::Table', 'Table'));
  const secret = (kind: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:oauth-broker/dev/${PROFILE_ID}/${kind}-AbC123`;

  beforeAll(() => {
    dev = deployed.dev!;
  });

  it('the public callback may touch only the items it needs: no profile deleted, no pending authorization updated, nothing put', async () => {
    expect(await ask('callback', 'dynamodb:DeleteItem', table(), { 'dynamodb:LeadingKeys': [`STATE#${'a'.repeat(64)}`] })).toBe('Allowed');
    expect(await ask('callback', 'dynamodb:DeleteItem', table(), { 'dynamodb:LeadingKeys': [`PROFILE#${PROFILE_ID}`] })).toBe('ImplicitlyDenied');
    expect(await ask('callback', 'dynamodb:UpdateItem', table(), { 'dynamodb:LeadingKeys': ['STATE#x'] })).toBe('ImplicitlyDenied');
    // It reads a pending authorization only through the conditional delete that uses it up (ReturnValues).
    expect(await ask('callback', 'dynamodb:GetItem', table(), { 'dynamodb:LeadingKeys': ['STATE#x'] })).toBe('ImplicitlyDenied');
    expect(await ask('callback', 'dynamodb:DeleteItem', table(), { 'dynamodb:LeadingKeys': ['STATE#x'] })).toBe('Allowed');
    expect(await ask('callback', 'dynamodb:PutItem', table(), { 'dynamodb:LeadingKeys': [`PROFILE#${PROFILE_ID}`] })).toBe('ImplicitlyDenied');
    expect(await ask('callback', 'dynamodb:Query', `${table()}/index/gsi1`)).toBe('ImplicitlyDenied');
  }, TIMEOUT);

  it('the token, refresh and callback functions never write or delete client secrets; authorize-url touches no secret', async () => {
    for (const key of ['token', 'refresh', 'callback'] as const) {
      expect(await ask(key, 'secretsmanager:PutSecretValue', secret('client-secret')), key).toBe('ImplicitlyDenied');
      expect(await ask(key, 'secretsmanager:DeleteSecret', secret('client-secret')), key).toBe('ImplicitlyDenied');
      expect(await ask(key, 'secretsmanager:DeleteSecret', secret('token-set')), key).toBe('Allowed');
    }
    expect(await ask('authorizeUrl', 'secretsmanager:GetSecretValue', secret('token-set'))).toBe('ImplicitlyDenied');
    expect(await ask('authorizeUrl', 'dynamodb:PutItem', table(), { 'dynamodb:LeadingKeys': [`PROFILE#${PROFILE_ID}`] })).toBe('ImplicitlyDenied');
  }, TIMEOUT);

  it('secrets are created only with the profile-id tag', async () => {
    const tagged = (keys: string[]) => ({ 'aws:TagKeys': keys });
    expect(await ask('profiles', 'secretsmanager:CreateSecret', secret('client-secret'), tagged(['oauth-broker:profile-id']))).toBe('Allowed');
    expect(await ask('profiles', 'secretsmanager:CreateSecret', secret('client-secret'), tagged(['oauth-broker:profile-id', 'owner']))).toBe('ImplicitlyDenied');
  }, TIMEOUT);

  it('status events are accepted only when every entry has source oauth-broker (a set operator with a Null check)', async () => {
    const bus = `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`;
    expect(await ask('refresh', 'events:PutEvents', bus, { 'events:source': ['oauth-broker'] })).toBe('Allowed');
    expect(await ask('refresh', 'events:PutEvents', bus, { 'events:source': ['oauth-broker', 'aws.ec2'] })).toBe('ImplicitlyDenied');
    expect(await ask('refresh', 'events:PutEvents', bus, {})).toBe('ImplicitlyDenied');
  }, TIMEOUT);

  it('KMS only through Secrets Manager, only for this environment\'s secrets', async () => {
    const keyLogical = dev.id('AWS::KMS::Key', 'SecretsKey');
    const role = roleId(dev, 'token');
    const decrypt = (context: Record<string, string | string[]>) =>
      evaluate({
        principal: dev.arn(role),
        action: 'kms:Decrypt',
        resource: dev.arn(keyLogical),
        context: { 'kms:CallerAccount': ACCOUNT, ...context },
        identityPolicies: identityPolicies(dev, role),
        resourcePolicy: dev.resolve(dev.resources[keyLogical]!.Properties.KeyPolicy),
      });
    const via = { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` };
    expect(await decrypt({ ...via, 'kms:EncryptionContext:SecretARN': secret('token-set') })).toBe('Allowed');
    expect(await decrypt({ 'kms:EncryptionContext:SecretARN': secret('token-set') })).toBe('ImplicitlyDenied');
    expect(await decrypt({ 'kms:ViaService': `ssm.${REGION}.amazonaws.com`, 'kms:EncryptionContext:SecretARN': secret('token-set') })).toBe('ImplicitlyDenied');
    expect(
      await decrypt({ ...via, 'kms:EncryptionContext:SecretARN': `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:other-app/db-AbC123` }),
    ).toBe('ImplicitlyDenied');
  }, TIMEOUT);
});

describe('the secrets key policy', () => {
  const keyRequest = (d: Deployed, principal: string, action: string, policies = ALLOW_EVERYTHING, context: Record<string, string | string[]> = {}) => {
    const keyLogical = d.id('AWS::KMS::Key', 'SecretsKey');
    return evaluate({
      principal,
      action,
      resource: d.arn(keyLogical),
      context: { 'kms:CallerAccount': ACCOUNT, ...context },
      identityPolicies: policies,
      resourcePolicy: d.resolve(d.resources[keyLogical]!.Properties.KeyPolicy),
    });
  };
  const throughSecretsManager = (env: string) => ({
    'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com`,
    'kms:EncryptionContext:SecretARN': `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:oauth-broker/${env}/${PROFILE_ID}/token-set-AbC123`,
  });

  it('refuses kms:Decrypt to an account administrator whose IAM policy allows everything (it no longer delegates kms:* to the account)', async () => {
    for (const env of ['dev', 'prod']) {
      const d = deployed[env]!;
      expect(await keyRequest(d, ACCOUNT_ADMIN, 'kms:Decrypt', ALLOW_EVERYTHING, throughSecretsManager(env)), env).toBe('ImplicitlyDenied');
      expect(await keyRequest(d, ACCOUNT_ADMIN, 'kms:GenerateDataKey', ALLOW_EVERYTHING, throughSecretsManager(env)), env).toBe('ImplicitlyDenied');
      // Nor can it grant itself the use of the key.
      expect(await keyRequest(d, ACCOUNT_ADMIN, 'kms:CreateGrant'), env).toBe('ImplicitlyDenied');
      expect(await keyRequest(d, ACCOUNT_ADMIN, 'kms:Encrypt'), env).toBe('ImplicitlyDenied');
    }
  }, TIMEOUT);

  it('keeps the key\'s administration with the account', async () => {
    const d = deployed.prod!;
    for (const action of ['kms:DescribeKey', 'kms:PutKeyPolicy', 'kms:GetKeyRotationStatus', 'kms:EnableKeyRotation', 'kms:ScheduleKeyDeletion', 'kms:TagResource']) {
      expect(await keyRequest(d, ACCOUNT_ADMIN, action), action).toBe('Allowed');
    }
    // Administration through IAM: a principal without an IAM grant gets nothing.
    expect(await keyRequest(d, ACCOUNT_ADMIN, 'kms:DescribeKey', [])).toBe('ImplicitlyDenied');
  }, TIMEOUT);

  it('lets the environment\'s named admin role read secrets through Secrets Manager, and only through it', async () => {
    const d = deployed.restricted!;
    expect(await keyRequest(d, ADMIN_ROLE, 'kms:Decrypt', ALLOW_EVERYTHING, throughSecretsManager('prod'))).toBe('Allowed');
    expect(await keyRequest(d, ADMIN_ROLE, 'kms:Decrypt', ALLOW_EVERYTHING, { 'kms:ViaService': `ec2.${REGION}.amazonaws.com` })).toBe('ImplicitlyDenied');
    // The same role is nobody in an environment that does not name it.
    expect(await keyRequest(deployed.prod!, ADMIN_ROLE, 'kms:Decrypt', ALLOW_EVERYTHING, throughSecretsManager('prod'))).toBe('ImplicitlyDenied');
    // Another account's role of the same name is refused (kms:CallerAccount and the ARN both differ).
    const foreign = `arn:aws:iam::${OTHER_ACCOUNT}:role/broker-break-glass`;
    expect(await keyRequest(d, foreign, 'kms:Decrypt', ALLOW_EVERYTHING, { ...throughSecretsManager('prod'), 'kms:CallerAccount': OTHER_ACCOUNT })).not.toBe('Allowed');
  }, TIMEOUT);
});

describe('the alarm topic', () => {
  const topicRequest = (d: Deployed, principal: string, context: Record<string, string>, policies: Cfn[] = []) => {
    const topic = d.id('AWS::SNS::Topic', 'AlarmTopic');
    const policy = Object.values(d.resources).find((r) => r.Type === 'AWS::SNS::TopicPolicy')!;
    return evaluate({
      principal,
      action: 'sns:Publish',
      resource: d.ref(topic),
      context,
      identityPolicies: policies,
      resourcePolicy: d.resolve(policy.Properties.PolicyDocument),
    });
  };

  it.each(['dev', 'prod'])('%s: accepts CloudWatch alarms of this account, and no other account\'s', async (env) => {
    const d = deployed[env]!;
    const alarm = (account: string) => `arn:aws:cloudwatch:${REGION}:${account}:alarm:oauth-broker-${env}-RefreshFunctionErrors`;
    expect(await topicRequest(d, 'cloudwatch.amazonaws.com', { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': alarm(ACCOUNT) })).toBe('Allowed');
    expect(await topicRequest(d, 'cloudwatch.amazonaws.com', { 'aws:SourceAccount': OTHER_ACCOUNT, 'aws:SourceArn': alarm(OTHER_ACCOUNT) })).not.toBe('Allowed');
    // EventBridge may no longer publish as a service: any rule of any account could.
    expect(await topicRequest(d, 'events.amazonaws.com', { 'aws:SourceAccount': OTHER_ACCOUNT })).not.toBe('Allowed');
    // CloudWatch may use the topic's key for the message.
    const key = d.id('AWS::KMS::Key', 'AlarmTopicKey');
    expect(
      await evaluate({
        principal: 'cloudwatch.amazonaws.com',
        action: 'kms:GenerateDataKey',
        resource: d.arn(key),
        resourcePolicy: d.resolve(d.resources[key]!.Properties.KeyPolicy),
      }),
    ).toBe('Allowed');
  }, TIMEOUT);

  it.each(['dev', 'prod'])('%s: each status rule publishes through its own role', async (env) => {
    const d = deployed[env]!;
    for (const rule of ['ProfilesNeedAttentionRule', 'RefreshFailingRule']) {
      const role = d.id('AWS::IAM::Role', `${rule}EventsRole`);
      expect(await topicRequest(d, d.arn(role), {}, identityPolicies(d, role)), rule).toBe('Allowed');
    }
  }, TIMEOUT);
});

describe('consumer access to the API', () => {
  const apiOf = (d: Deployed) => {
    const apiId = d.ref(d.id('AWS::ApiGateway::RestApi', 'Api'));
    const route = (stage: string, method: string, path: string) => `arn:aws:execute-api:${REGION}:${ACCOUNT}:${apiId}/${stage}/${method}${path}`;
    const restApi = Object.values(d.resources).find((r) => r.Type === 'AWS::ApiGateway::RestApi')!;
    // API Gateway expands its resource policy's `execute-api:/…` to the API's own ARN.
    const resourcePolicy = restApi.Properties.Policy
      ? JSON.parse(JSON.stringify(d.resolve(restApi.Properties.Policy)).split('"execute-api:/').join(`"arn:aws:execute-api:${REGION}:${ACCOUNT}:${apiId}/`))
      : undefined;
    return { apiId, route, resourcePolicy };
  };
  const invoke = (d: Deployed, principal: string, policies: Cfn[], method: string, path: string, context: Record<string, string> = {}, stage = d.env) => {
    const { route, resourcePolicy } = apiOf(d);
    return evaluate({ principal, action: 'execute-api:Invoke', resource: route(stage, method, path), context, identityPolicies: policies, resourcePolicy });
  };
  const otherRoutes: [string, string][] = [
    ['GET', '/profiles'],
    ['GET', `/profiles/${PROFILE_ID}`],
    ['PUT', `/profiles/${PROFILE_ID}`],
    ['DELETE', `/profiles/${PROFILE_ID}`],
    ['POST', `/profiles/${PROFILE_ID}/refresh`],
    ['GET', `/profiles/${PROFILE_ID}/authorize-url`],
  ];
  const consumer = `arn:aws:iam::${ACCOUNT}:role/mes-sync`;

  it.each(['dev', 'prod'])('%s: the managed consumer policy allows GET of a profile\'s token, and nothing else', async (env) => {
    const d = deployed[env]!;
    const managed = Object.entries(d.resources).find(([, r]) => r.Type === 'AWS::IAM::ManagedPolicy')!;
    const policies = [{ name: managed[0], policy: d.resolve(managed[1].Properties.PolicyDocument) }];
    expect(await invoke(d, consumer, policies, 'GET', `/profiles/${PROFILE_ID}/token`)).toBe('Allowed');
    for (const [method, path] of [...otherRoutes, ['POST', `/profiles/${PROFILE_ID}/token`] as [string, string]]) {
      expect(await invoke(d, consumer, policies, method, path), `${method} ${path}`).toBe('ImplicitlyDenied');
    }
    expect(await invoke(d, consumer, policies, 'GET', `/profiles/${PROFILE_ID}/token`, {}, 'other-stage')).toBe('ImplicitlyDenied');
  }, TIMEOUT);

  it.each(['dev', 'prod'])('%s: `oauth-broker policy` allows GET of exactly one profile\'s token', async (env) => {
    const d = deployed[env]!;
    const { apiId } = apiOf(d);
    const policy = tokenPolicy({ partition: 'aws', region: REGION, account: ACCOUNT, apiId, stage: env }, PROFILE_ID);
    const policies = [{ name: 'oauth-broker-token', policy }];
    expect(await invoke(d, consumer, policies, 'GET', `/profiles/${PROFILE_ID}/token`)).toBe('Allowed');
    expect(await invoke(d, consumer, policies, 'GET', '/profiles/other/token')).toBe('ImplicitlyDenied');
    expect(await invoke(d, consumer, policies, 'GET', `/profiles/${PROFILE_ID}x/token`)).toBe('ImplicitlyDenied');
    for (const [method, path] of otherRoutes) expect(await invoke(d, consumer, policies, method, path), `${method} ${path}`).toBe('ImplicitlyDenied');
  }, TIMEOUT);

  describe('with allowedPrincipals', () => {
    const everything = [{ name: 'invoke-all', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'execute-api:Invoke', Resource: '*' }] } }];
    const token = `/profiles/${PROFILE_ID}/token`;

    it('the token list may fetch tokens and not administer; the admin list may administer and not fetch tokens', async () => {
      const d = deployed.restricted!;
      const listedConsumer = `arn:aws:iam::${ACCOUNT}:role/mes-sync`;
      const admin = `arn:aws:iam::${ACCOUNT}:role/broker-admin`;
      expect(await invoke(d, listedConsumer, everything, 'GET', token)).toBe('Allowed');
      expect(await invoke(d, listedConsumer, everything, 'PUT', `/profiles/${PROFILE_ID}`)).toBe('ExplicitlyDenied');
      expect(await invoke(d, admin, everything, 'PUT', `/profiles/${PROFILE_ID}`)).toBe('Allowed');
      expect(await invoke(d, admin, everything, 'POST', `/profiles/${PROFILE_ID}/refresh`)).toBe('Allowed');
      expect(await invoke(d, admin, everything, 'GET', token)).toBe('ExplicitlyDenied');
    }, TIMEOUT);

    it('an unlisted principal of this account is refused whatever its IAM policy; the callback stays public', async () => {
      const d = deployed.restricted!;
      const unlisted = `arn:aws:iam::${ACCOUNT}:role/AccountAdministrator`;
      expect(await invoke(d, unlisted, everything, 'GET', token)).toBe('ExplicitlyDenied');
      expect(await invoke(d, unlisted, everything, 'DELETE', `/profiles/${PROFILE_ID}`)).toBe('ExplicitlyDenied');
      const { route, resourcePolicy } = apiOf(d);
      // A browser's unsigned request.
      expect(await evaluate({ principal: anonymousPrincipal, action: 'execute-api:Invoke', resource: route('prod', 'GET', '/callback'), resourcePolicy })).toBe('Allowed');
      expect(await evaluate({ principal: anonymousPrincipal, action: 'execute-api:Invoke', resource: route('prod', 'GET', token), resourcePolicy })).not.toBe('Allowed');
    }, TIMEOUT);

    it('another account reaches the routes only when listed by ARN or organisation, and only its own group\'s routes', async () => {
      const d = deployed.restricted!;
      const inOrg = { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' };
      expect(await invoke(d, `arn:aws:iam::${OTHER_ACCOUNT}:role/erp-sync`, everything, 'GET', token)).toBe('Allowed');
      expect(await invoke(d, `arn:aws:iam::${OTHER_ACCOUNT}:role/some-workload`, everything, 'GET', token, inOrg)).toBe('Allowed');
      expect(await invoke(d, `arn:aws:iam::${OTHER_ACCOUNT}:role/some-workload`, everything, 'GET', token)).toBe('ExplicitlyDenied');
      expect(await invoke(d, `arn:aws:iam::${OTHER_ACCOUNT}:role/erp-sync`, everything, 'PUT', `/profiles/${PROFILE_ID}`)).toBe('ExplicitlyDenied');
      expect(await invoke(d, `arn:aws:iam::${OTHER_ACCOUNT}:role/remote-admin`, everything, 'DELETE', `/profiles/${PROFILE_ID}`)).toBe('Allowed');
      // Listed, but its own account does not allow it: cross-account needs both sides.
      expect(await invoke(d, `arn:aws:iam::${OTHER_ACCOUNT}:role/erp-sync`, [], 'GET', token)).not.toBe('Allowed');
    }, TIMEOUT);
  });
});

describe('a removed grant fails the policy tests', () => {
  it('without the callback\'s DeleteSecret, a deleted profile\'s re-created token set could not be removed', async () => {
    // Prepare: the dev template with DeleteSecret taken out of every statement of the callback role.
    const d = deployEdited(templates.dev!, 'dev', (resources, dev) => {
      for (const [, r] of attachedPolicies(resources, roleId(dev, 'callback'))) {
        for (const s of r.Properties.PolicyDocument.Statement as { Action: string | string[] }[]) {
          s.Action = [s.Action].flat().filter((a) => a !== 'secretsmanager:DeleteSecret');
        }
      }
    });

    // Act
    const results = await evaluateCalls(d, 'callback');

    // Assess
    expect(denied(results)).toEqual(['secretsmanager:DeleteSecret existing token-set', 'secretsmanager:DeleteSecret missing token-set']);
  }, TIMEOUT);

  it('without the key policy\'s statement for the broker\'s roles, no function can read or write a secret', async () => {
    const d = deployEdited(templates.prod!, 'prod', (resources, prod) => {
      const key = resources[prod.id('AWS::KMS::Key', 'SecretsKey')]!;
      key.Properties.KeyPolicy.Statement = (key.Properties.KeyPolicy.Statement as { Sid: string }[]).filter((s) => s.Sid === 'KeyAdministrationByTheAccount');
    });

    const results = await evaluateCalls(d, 'token');

    expect(denied(results).length).toBeGreaterThan(0);
    expect(denied(results).every((label) => label.startsWith('kms:'))).toBe(true);
    // Every KMS call through Secrets Manager; the signing keys have policies of their own.
    expect(callRequests(d, 'token').filter((c) => c.action.startsWith('kms:') && c.label.includes('through Secrets Manager')).length).toBe(denied(results).length);
  }, TIMEOUT);
});
