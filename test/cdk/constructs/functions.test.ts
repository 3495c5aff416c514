/**
 * cdk/constructs/functions.ts: one function per entry of lib/functions.ts, bundled as the runtime needs
 * it, each with its own log group and a role holding exactly the statements its calls need.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { BrokerData } from '../../../cdk/constructs/data.js';
import { BrokerFunctions, ESM_REQUIRE_BANNER } from '../../../cdk/constructs/functions.js';
import { BrokerSigningKeys } from '../../../cdk/constructs/signing-keys.js';
import { environments } from '../../../cdk/environments.js';
import { functionKeys } from '../../../lib/functions.js';
import {
  actionsOf,
  FUNCTION_IDS,
  functionProps,
  logicalId,
  resources,
  resourceText,
  roleStatements,
  routes,
  synthesized,
  type Statement,
  focusedStack,
} from '../support.js';

describe('BrokerFunctions on its own', () => {
  it('makes one function and one role per entry of lib/functions.ts, and registers those touching secrets with the key', () => {
    // Prepare
    const stack = focusedStack({ context: { 'aws:cdk:bundling-stacks': [] } });
    const data = new BrokerData(stack, 'Data', { settings: environments.dev });

    // Act
    const signingKeys = new BrokerSigningKeys(stack, 'SigningKeys', { settings: environments.dev });
    const built = new BrokerFunctions(stack, 'Functions', { settings: environments.dev, data, callbackUrl: 'https://broker.example/callback', signingKeys });
    const template = Template.fromStack(stack);

    // Assess
    expect(Object.keys(built.functions)).toEqual(functionKeys());
    template.resourceCountIs('AWS::Lambda::Function', functionKeys().length);
    template.resourceCountIs('AWS::IAM::Role', functionKeys().length);
    const keyPolicy = resources(template, 'AWS::KMS::Key')[stack.getLogicalId(data.secretsKey.node.defaultChild as CfnElement)]!.Properties!.KeyPolicy;
    const users = JSON.stringify(keyPolicy.Statement.find((s: Statement) => s.Sid === 'SecretsThroughSecretsManagerForBrokerAndAdminRoles'));
    for (const name of ['Profiles', 'Callback', 'Token', 'Refresh']) expect(users).toContain(`Functions${name}Role`);
    expect(users).not.toContain('FunctionsAuthorizeUrlRole');
  });
});

describe('functions of the dev stack (bundled for real)', () => {
  const dev = synthesized({ env: 'dev', bundle: true }, 120_000);

  it('bundles each entry point as a minified ESM file with a require shim and a source map', () => {
    const fns = resources(dev.template, 'AWS::Lambda::Function');
    expect(Object.keys(fns)).toHaveLength(FUNCTION_IDS.length);
    const outdir = dev.app.outdir;
    for (const fn of Object.values(fns)) {
      const hash = String(fn.Properties!.Code.S3Key).replace(/\.zip$/, '');
      const dir = path.join(outdir, `asset.${hash}`);
      const code = readFileSync(path.join(dir, 'index.mjs'), 'utf8');
      expect(code.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
      expect(code).toMatch(/export\s*\{[^}]*\bhandler\b[^}]*\}/);
      expect(code.trimEnd()).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map$/);
      expect(existsSync(path.join(dir, 'index.mjs.map'))).toBe(true);
      // Minified: long lines (a readable bundle averages well under 100 characters a line).
      expect(code.length / code.split('\n').length).toBeGreaterThan(1000);
      expect(fn.Properties!.Handler).toBe('index.handler');
    }
  });

  it('runs every function on nodejs24.x, arm64, JSON logs into its own log group with retention', () => {
    for (const name of FUNCTION_IDS) {
      const fn = functionProps(dev.template, name);
      expect(fn.Runtime).toBe('nodejs24.x');
      expect(fn.Architectures).toEqual(['arm64']);
      expect(fn.Timeout).toBeGreaterThan(3);
      expect(fn.Timeout).toBeLessThanOrEqual(name === 'Refresh' ? 900 : 29);
      expect(fn.LoggingConfig.LogFormat).toBe('JSON');
      const logGroup = resources(dev.template, 'AWS::Logs::LogGroup')[fn.LoggingConfig.LogGroup.Ref]!;
      expect(logGroup.Properties!.RetentionInDays).toBe(14);
    }
  });

  it('wires the environment variables the runtime reads', () => {
    const tableId = logicalId(dev.template, 'AWS::DynamoDB::Table', 'Table');
    const keyId = logicalId(dev.template, 'AWS::KMS::Key', 'SecretsKey');
    const signingKeyId = logicalId(dev.template, 'AWS::KMS::Key', 'SigningKeyses256');
    const apiId = logicalId(dev.template, 'AWS::ApiGateway::RestApi', 'Api');
    for (const name of FUNCTION_IDS) {
      const vars = functionProps(dev.template, name).Environment.Variables;
      expect(vars).toEqual({
        BROKER_ENVIRONMENT: 'dev',
        BROKER_TABLE_NAME: { Ref: tableId },
        BROKER_SECRET_PREFIX: 'oauth-broker/dev',
        BROKER_KMS_KEY_ID: { 'Fn::GetAtt': [keyId, 'Arn'] },
        BROKER_CALLBACK_URL: {
          'Fn::Join': ['', ['https://', { Ref: apiId }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/dev/callback']],
        },
        BROKER_EVENT_BUS_NAME: 'default',
        BROKER_REFRESH_INTERVAL_SECONDS: '300',
        BROKER_REFRESH_MARGIN_SECONDS: '600',
        // The default signing key: one ES256 key of the stack's own (docs/keys.md).
        BROKER_SIGNING_KEYS: { 'Fn::Join': ['', ['ES256=', { 'Fn::GetAtt': [signingKeyId, 'Arn'] }]] },
        POWERTOOLS_SERVICE_NAME: 'oauth-broker',
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
        POWERTOOLS_METRICS_NAMESPACE: 'OAuthBroker',
        NODE_OPTIONS: '--enable-source-maps',
      });
      expect(Number(vars.BROKER_REFRESH_MARGIN_SECONDS)).toBeGreaterThanOrEqual(2 * Number(vars.BROKER_REFRESH_INTERVAL_SECONDS));
    }
  });

  it('gives the token function API Gateway\'s 29 s integration limit, and keeps the refresh function\'s timeout', () => {
    // Act
    const token = functionProps(dev.template, 'Token').Timeout as number;
    const refresh = functionProps(dev.template, 'Refresh').Timeout as number;
    const methods = routes(dev.template).filter((r) => r.properties.Integration.Type === 'AWS_PROXY');

    // Assess
    // Waiting for another instance's refresh (10 s) plus discovery (10 s) and the token endpoint (10 s)
    // needs more than the 25 s it had; API Gateway gives up at 29 s whatever the function's timeout.
    expect(token).toBe(29);
    for (const m of methods) expect(m.properties.Integration.TimeoutInMillis ?? 29_000).toBeLessThanOrEqual(token * 1000);
    // dev runs every 5 minutes: 300 s − 30 s.
    expect(refresh).toBe(270);
  });

  describe('least privilege', () => {
    // What each function that keeps token sets holds besides its table actions: its events, the secrets
    // (and their key), signing client assertions, its logs (sorted, as actionsOf returns them).
    const keepsTokens = [
      'events:PutEvents',
      'kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey', 'kms:GetPublicKey', 'kms:Sign',
      'logs:CreateLogStream', 'logs:PutLogEvents',
      'secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource',
    ];
    const expected: Record<(typeof FUNCTION_IDS)[number], string[]> = {
      Profiles: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', ...keepsTokens],
      AuthorizeUrl: ['dynamodb:GetItem', 'dynamodb:PutItem', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      Callback: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', ...keepsTokens],
      Token: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', ...keepsTokens],
      Refresh: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', ...keepsTokens, 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
      // Reads the key ring only: it never signs and touches no secret.
      Jwks: ['dynamodb:GetItem', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      Keys: ['dynamodb:GetItem', 'dynamodb:PutItem', 'events:PutEvents', 'kms:GetPublicKey', 'kms:Sign', 'logs:CreateLogStream', 'logs:PutLogEvents'],
    };

    it.each(FUNCTION_IDS)('%s holds exactly its own actions, through its own role without managed policies', (name) => {
      expect(actionsOf(roleStatements(dev.template, `${name}Role`))).toEqual(expected[name]);
    });

    it('gives no function a right another function has that it does not need', () => {
      const token = actionsOf(roleStatements(dev.template, 'TokenRole'));
      // A profile deleted during a callback or refresh: the code deletes the token set it re-created, and
      // nothing else (lib/functions.ts): only the profiles function may delete a client secret.
      for (const name of ['Callback', 'Token', 'Refresh']) {
        const deletes = roleStatements(dev.template, `${name}Role`).filter((st) => actionsOf([st]).includes('secretsmanager:DeleteSecret'));
        expect(deletes.length, name).toBeGreaterThan(0);
        for (const st of deletes) for (const r of resourceText(st)) expect(r, name).toMatch(/\/token-set(-\?{6}|\*|)"\]\]\}$/);
      }
      expect(actionsOf(roleStatements(dev.template, 'AuthorizeUrlRole'))).not.toContain('secretsmanager:DeleteSecret');
      expect(token).not.toContain('dynamodb:DeleteItem');
      // The token function writes only the key ring (its first key of an algorithm), never a profile or a pending item.
      const tokenPuts = roleStatements(dev.template, 'TokenRole').filter((s) => actionsOf([s]).includes('dynamodb:PutItem'));
      expect(tokenPuts.map((s) => s.Condition)).toEqual([{ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['KEYRING'] } }]);
      const authorize = roleStatements(dev.template, 'AuthorizeUrlRole');
      expect(actionsOf(authorize).filter((a) => /^(secretsmanager|kms|events):/.test(a))).toEqual([]);
      // The token function may write only token sets, never client secrets.
      const tokenWrites = roleStatements(dev.template, 'TokenRole').filter((s) =>
        actionsOf([s]).some((a) => /secretsmanager:(Put|Create)/.test(a)),
      );
      for (const s of tokenWrites) {
        for (const r of resourceText(s)) expect(r).toMatch(/\/token-set(-\?{6}|\*|)"\]\]\}$/);
      }
      // The refresh function reads client secrets but never writes or creates them; it may create token sets.
      const refresh = roleStatements(dev.template, 'RefreshRole');
      for (const s of refresh.filter((st) => resourceText(st).join().includes('client-secret'))) {
        expect(actionsOf([s])).toEqual(['secretsmanager:GetSecretValue']);
      }
      const refreshCreates = refresh.filter((s) => actionsOf([s]).includes('secretsmanager:CreateSecret'));
      expect(refreshCreates).toHaveLength(1);
      expect(resourceText(refreshCreates[0]!).join()).toMatch(/\/token-set\*"\]\]\}$/);
      // Index queries: the refresh job on `due` only, the profiles function on `gsi1` only (listing, and
      // deleting a profile's pending authorizations), nobody else; no function queries the table itself.
      const indexes = (stmts: Statement[]) =>
        stmts.filter((s) => resourceText(s).join().includes('/index/')).flatMap((s) => resourceText(s).map((r) => r.match(/\/index\/(\w+)/)![1]));
      expect(indexes(refresh)).toEqual(['due']);
      expect(indexes(roleStatements(dev.template, 'ProfilesRole'))).toEqual(['gsi1']);
      expect(indexes(roleStatements(dev.template, 'CallbackRole'))).toEqual([]);
      expect(indexes(roleStatements(dev.template, 'TokenRole'))).toEqual([]);
      expect(indexes(roleStatements(dev.template, 'AuthorizeUrlRole'))).toEqual([]);
      for (const name of FUNCTION_IDS) {
        for (const s of roleStatements(dev.template, `${name}Role`).filter((st) => actionsOf([st]).includes('dynamodb:Query'))) {
          for (const r of resourceText(s)) expect(r).toContain('/index/');
        }
      }
    });

    it('names a resource, never "*", in every function policy; secrets stay under this environment\'s prefix', () => {
      const signingKeyId = logicalId(dev.template, 'AWS::KMS::Key', 'SigningKeyses256');
      for (const name of FUNCTION_IDS) {
        for (const s of roleStatements(dev.template, `${name}Role`)) {
          expect(s.Effect).toBe('Allow');
          for (const action of actionsOf([s])) expect(action).not.toContain('*');
          for (const r of resourceText(s)) {
            expect(r).not.toBe('*');
            if (actionsOf([s]).some((a) => a.startsWith('secretsmanager:'))) {
              // `-??????` (the ARN suffix of an existing secret) or none (the name of a secret that does not
              // exist yet), or `*` for CreateSecret only.
              const suffix = actionsOf([s]).includes('secretsmanager:CreateSecret') ? '\\*' : '(-\\?{6})?';
              expect(r).toMatch(new RegExp(`:secret:oauth-broker/dev/\\*/(client-secret|token-set)${suffix}"\\]\\]\\}$`));
            }
          }
          if (actionsOf([s]).some((a) => ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'].includes(a))) {
            expect(s.Condition?.StringEquals?.['kms:ViaService']).toBeDefined();
          }
          // Signing: the key by its ARN, its algorithm pinned (docs/keys.md), in a statement of its own.
          if (actionsOf([s]).includes('kms:Sign')) {
            expect(actionsOf([s])).toEqual(['kms:Sign']);
            expect(s.Resource).toEqual({ 'Fn::GetAtt': [signingKeyId, 'Arn'] });
            expect(s.Condition).toEqual({ StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256' } });
          }
          if (actionsOf([s]).includes('kms:GetPublicKey')) {
            expect(s.Resource).toEqual({ 'Fn::GetAtt': [signingKeyId, 'Arn'] });
          }
          if (actionsOf([s]).includes('secretsmanager:CreateSecret')) {
            expect(s.Condition).toEqual({ 'ForAllValues:StringEquals': { 'aws:TagKeys': ['oauth-broker:profile-id'] } });
          }
          if (actionsOf([s]).includes('events:PutEvents')) {
            expect(s.Condition).toEqual({ 'ForAllValues:StringEquals': { 'events:source': ['oauth-broker'] }, Null: { 'events:source': 'false' } });
            expect(resourceText(s).join()).toContain(':event-bus/default');
          }
        }
      }
    });

    it('grants every action on existing secrets on the suffix-less name too, so that a missing secret is not found rather than denied', () => {
      // Prepare
      const secretStatements = FUNCTION_IDS.flatMap((name) =>
        roleStatements(dev.template, `${name}Role`)
          .filter((s) => actionsOf([s]).some((a) => a.startsWith('secretsmanager:')))
          .map((s) => ({ name, s })),
      );

      // Act
      const plain = secretStatements.filter(({ s }) => !actionsOf([s]).includes('secretsmanager:CreateSecret'));
      const kinds = plain.map(({ name, s }) => ({
        name,
        actions: actionsOf([s]),
        endings: resourceText(s).map((r) => r.match(/\/\*\/((?:client-secret|token-set)(?:-\?{6})?)"\]\]\}$/)![1]).sort(),
      }));

      // Assess
      expect(plain.length).toBeGreaterThanOrEqual(FUNCTION_IDS.length - 1);
      for (const { name, actions, endings } of kinds) {
        expect(actions.every((a) => ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:DeleteSecret'].includes(a)), name).toBe(true);
        expect(endings, name).toHaveLength(2);
        const [kind] = endings as [string, string];
        expect(endings, name).toEqual([kind, `${kind}-??????`]);
      }
      // Deleting a profile that has no token set (or no client secret) must reach Secrets Manager.
      const profileDeletes = kinds.filter((k) => k.name === 'Profiles' && k.actions.includes('secretsmanager:DeleteSecret'));
      expect(profileDeletes.map((k) => k.endings[0]).sort()).toEqual(['client-secret', 'token-set']);
    });
  });
});
