/**
 * Template assertions on the broker stack (issue "Deployable per environment", item 8).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { addBrokerStack } from '../../cdk/broker-app.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_LOG_FIELDS } from '../../cdk/access-log.js';
import { ESM_REQUIRE_BANNER } from '../../cdk/broker-stack.js';
import { TABLE_SCHEMA } from '../../lib/adapters/dynamodb-profile-store.js';
import { actionsOf, type Cfn, cdkJson, logicalId, resources, roleStatements, synth, type Statement, type Synthesized } from './support.js';

const FUNCTIONS = ['Profiles', 'AuthorizeUrl', 'Callback', 'Token', 'Refresh'] as const;

interface Route {
  method: string;
  path: string;
  properties: Record<string, Cfn>;
}

/** Every API method with its full resource path, e.g. `GET /profiles/{id}/token`. */
function routes(template: Template): Route[] {
  const apiResources = resources(template, 'AWS::ApiGateway::Resource');
  const pathOf = (ref: unknown): string => {
    if (typeof ref === 'object' && ref !== null && 'Fn::GetAtt' in ref) return ''; // the root resource
    const id = (ref as { Ref: string }).Ref;
    const r = apiResources[id]!;
    return `${pathOf(r.Properties!.ParentId)}/${r.Properties!.PathPart}`;
  };
  return Object.values(resources(template, 'AWS::ApiGateway::Method')).map((m) => ({
    method: m.Properties!.HttpMethod,
    path: pathOf(m.Properties!.ResourceId) || '/',
    properties: m.Properties!,
  }));
}

function functionProps(template: Template, prefix: string): Record<string, Cfn> {
  const fns = resources(template, 'AWS::Lambda::Function');
  return fns[logicalId(template, 'AWS::Lambda::Function', `Functions${prefix}`)]!.Properties!;
}

/** The resources of a statement, rendered as text (tokens as JSON), for pattern checks. */
const resourceText = (s: Statement): string[] =>
  (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).map((r) => (typeof r === 'string' ? r : JSON.stringify(r)));

describe('dev stack (bundled for real)', () => {
  let dev: Synthesized;
  let template: Template;

  beforeAll(() => {
    dev = synth({ env: 'dev', bundle: true });
    template = dev.template;
  }, 120_000);

  it('is named OAuthBroker-dev and is environment-agnostic', () => {
    expect(dev.stack.stackName).toBe('OAuthBroker-dev');
    expect(dev.stack.terminationProtection).toBe(false);
  });

  it('bundles each entry point as a minified ESM file with a require shim and a source map', () => {
    const fns = resources(template, 'AWS::Lambda::Function');
    expect(Object.keys(fns)).toHaveLength(FUNCTIONS.length);
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
    for (const name of FUNCTIONS) {
      const fn = functionProps(template, name);
      expect(fn.Runtime).toBe('nodejs24.x');
      expect(fn.Architectures).toEqual(['arm64']);
      expect(fn.Timeout).toBeGreaterThan(3);
      expect(fn.Timeout).toBeLessThanOrEqual(name === 'Refresh' ? 900 : 29);
      expect(fn.LoggingConfig.LogFormat).toBe('JSON');
      const logGroup = resources(template, 'AWS::Logs::LogGroup')[fn.LoggingConfig.LogGroup.Ref]!;
      expect(logGroup.Properties!.RetentionInDays).toBe(14);
    }
  });

  it('wires the environment variables the runtime reads', () => {
    const tableId = logicalId(template, 'AWS::DynamoDB::Table', 'DataTable');
    const keyId = logicalId(template, 'AWS::KMS::Key', 'DataSecretsKey');
    const apiId = logicalId(template, 'AWS::ApiGateway::RestApi', 'Api');
    for (const name of FUNCTIONS) {
      const vars = functionProps(template, name).Environment.Variables;
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
        POWERTOOLS_SERVICE_NAME: 'oauth-broker',
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
        POWERTOOLS_METRICS_NAMESPACE: 'OAuthBroker',
        NODE_OPTIONS: '--enable-source-maps',
      });
      expect(Number(vars.BROKER_REFRESH_MARGIN_SECONDS)).toBeGreaterThanOrEqual(2 * Number(vars.BROKER_REFRESH_INTERVAL_SECONDS));
    }
  });

  it('requires AWS_IAM on every route except GET /callback, which is public', () => {
    const all = routes(template);
    expect(all.map((r) => `${r.method} ${r.path}`).sort()).toEqual([
      'DELETE /profiles/{id}',
      'GET /callback',
      'GET /profiles',
      'GET /profiles/{id}',
      'GET /profiles/{id}/authorize-url',
      'GET /profiles/{id}/token',
      'POST /profiles/{id}/refresh',
      'PUT /profiles/{id}',
    ]);
    for (const route of all) {
      const expected = route.method === 'GET' && route.path === '/callback' ? 'NONE' : 'AWS_IAM';
      expect(`${route.method} ${route.path}: ${route.properties.AuthorizationType}`).toBe(`${route.method} ${route.path}: ${expected}`);
    }
    // Each route goes to its function, through a Lambda proxy integration.
    const target = (r: Route) => JSON.stringify(r.properties.Integration.Uri);
    const byPath = Object.fromEntries(all.map((r) => [`${r.method} ${r.path}`, r]));
    expect(target(byPath['GET /profiles/{id}/token']!)).toContain('Token');
    expect(target(byPath['GET /callback']!)).toContain('Callback');
    expect(target(byPath['GET /profiles/{id}/authorize-url']!)).toContain('AuthorizeUrl');
    expect(target(byPath['PUT /profiles/{id}']!)).toContain('Profiles');
    for (const r of all) expect(r.properties.Integration.Type).toBe('AWS_PROXY');
  });

  it('validates requests: a body-and-parameters validator on every route, the PUT body model, required path ids', () => {
    template.resourceCountIs('AWS::ApiGateway::RequestValidator', 1);
    const validatorId = logicalId(template, 'AWS::ApiGateway::RequestValidator', 'Api');
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true, ValidateRequestParameters: true });
    for (const route of routes(template)) {
      expect(route.properties.RequestValidatorId).toEqual({ Ref: validatorId });
      if (route.path.includes('{id}')) expect(route.properties.RequestParameters).toMatchObject({ 'method.request.path.id': true });
    }
    const put = routes(template).find((r) => r.method === 'PUT')!;
    const modelId = (put.properties.RequestModels['application/json'] as { Ref: string }).Ref;
    const model = resources(template, 'AWS::ApiGateway::Model')[modelId]!.Properties!;
    expect(model.Schema).toMatchObject({ type: 'object', required: ['clientId'] });
    expect(model.Schema.properties.grantType.enum).toEqual(['authorization_code', 'client_credentials']);
    // Validation failures answer in the contract's error shape.
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'BAD_REQUEST_BODY',
      StatusCode: '400',
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"error":"invalid_request"') },
    });
  });

  it('answers API Gateway\'s own errors in the contract\'s {error, message} shape, never with its bare {"message"}', () => {
    // Prepare
    const byType = Object.fromEntries(
      Object.values(resources(template, 'AWS::ApiGateway::GatewayResponse')).map((r) => [r.Properties!.ResponseType as string, r.Properties!]),
    );
    const bodyOf = (type: string): string => byType[type]!.ResponseTemplates['application/json'] as string;
    // `$context.error.messageString` is substituted as a quoted JSON string; parse with a stand-in.
    const parsed = (type: string) => JSON.parse(bodyOf(type).replace('$context.error.messageString', '"gateway says"')) as Record<string, string>;

    // Act
    const answers = Object.fromEntries(
      Object.keys(byType).map((type) => [type, { status: byType[type]!.StatusCode as string | undefined, body: parsed(type) }]),
    );

    // Assess
    expect(Object.keys(answers).sort()).toEqual(
      [
        'ACCESS_DENIED', 'BAD_REQUEST_BODY', 'BAD_REQUEST_PARAMETERS', 'DEFAULT_4XX', 'DEFAULT_5XX', 'EXPIRED_TOKEN',
        'INTEGRATION_TIMEOUT', 'INVALID_SIGNATURE', 'MISSING_AUTHENTICATION_TOKEN', 'RESOURCE_NOT_FOUND', 'THROTTLED',
        'UNAUTHORIZED', 'WAF_FILTERED',
      ].sort(),
    );
    for (const [type, { body }] of Object.entries(answers)) {
      expect(Object.keys(body).sort(), type).toEqual(['error', 'message']);
      expect(byType[type]!.ResponseParameters['gatewayresponse.header.Cache-Control'], type).toBe("'no-store'");
    }
    // Throttling is the contract's 503 with Retry-After, not API Gateway's 429.
    expect(answers.THROTTLED).toEqual({ status: '503', body: { error: 'temporarily_unavailable', message: expect.any(String) } });
    expect(byType.THROTTLED!.ResponseParameters['gatewayresponse.header.Retry-After']).toBe("'1'");
    expect(answers.INTEGRATION_TIMEOUT!.status).toBe('503');
    expect(byType.INTEGRATION_TIMEOUT!.ResponseParameters['gatewayresponse.header.Retry-After']).toBe("'5'");
    // An unknown route is 404 not_found, not 403 "Missing Authentication Token".
    expect(answers.MISSING_AUTHENTICATION_TOKEN).toEqual({ status: '404', body: { error: 'not_found', message: expect.stringMatching(/No such route/) } });
    expect(answers.RESOURCE_NOT_FOUND!.status).toBe('404');
    // Signature and IAM refusals stay 403: IAM's own message (it names caller and route), but a fixed one for
    // a bad signature, whose own message quotes the signed headers (a session token among them).
    for (const type of ['ACCESS_DENIED', 'UNAUTHORIZED', 'WAF_FILTERED']) {
      expect(answers[type], type).toEqual({ status: '403', body: { error: 'forbidden', message: 'gateway says' } });
    }
    for (const type of ['INVALID_SIGNATURE', 'EXPIRED_TOKEN']) {
      expect(answers[type], type).toEqual({ status: '403', body: { error: 'forbidden', message: expect.stringMatching(/^The /) } });
      expect(bodyOf(type), type).not.toContain('$context');
    }
    // Any other 4xx keeps its own status; any other 5xx is 500 internal_error with a fixed message.
    expect(answers.DEFAULT_4XX).toEqual({ status: undefined, body: { error: 'invalid_request', message: 'gateway says' } });
    expect(answers.DEFAULT_5XX).toEqual({ status: '500', body: { error: 'internal_error', message: 'The broker failed to answer.' } });
    // Only fixed text or messageString: never the validation text (it can quote the body) or other variables.
    for (const type of Object.keys(byType)) {
      expect(bodyOf(type).replace('$context.error.messageString', ''), type).not.toMatch(/\$/);
    }
  });

  it('gives the token function API Gateway\'s 29 s integration limit, and keeps the refresh function\'s timeout', () => {
    // Act
    const token = functionProps(template, 'Token').Timeout as number;
    const refresh = functionProps(template, 'Refresh').Timeout as number;
    const methods = routes(template).filter((r) => r.properties.Integration.Type === 'AWS_PROXY');

    // Assess
    // Waiting for another instance's refresh (10 s) plus discovery (10 s) and the token endpoint (10 s)
    // needs more than the 25 s it had; API Gateway gives up at 29 s whatever the function's timeout.
    expect(token).toBe(29);
    for (const m of methods) expect(m.properties.Integration.TimeoutInMillis ?? 29_000).toBeLessThanOrEqual(token * 1000);
    // dev runs every 5 minutes: 300 s − 30 s.
    expect(refresh).toBe(270);
  });

  it('writes JSON access logs that cannot contain a query string, and execution logs without data trace', () => {
    const stage = Object.values(resources(template, 'AWS::ApiGateway::Stage'))[0]!.Properties!;
    const format = stage.AccessLogSetting.Format as string;
    const fields = JSON.parse(format) as Record<string, string>;
    expect(fields).toEqual(ACCESS_LOG_FIELDS);
    for (const value of Object.values(fields)) {
      expect(value).toMatch(/^\$context\.[A-Za-z.]+$/);
      expect(value).not.toMatch(/requestOverride|querystring|query|error\.message|validationErrorString|authorize\.error|authenticate\.error|userAgent/i);
    }
    expect(fields).toMatchObject({ resourcePath: '$context.resourcePath', path: '$context.path', status: '$context.status' });
    expect(format).not.toMatch(/\$input|\$method|\$util/);

    const settings = stage.MethodSettings as Record<string, Cfn>[];
    expect(settings.length).toBeGreaterThanOrEqual(2);
    for (const s of settings) expect(s.DataTraceEnabled).toBe(false);
    const all = settings.find((s) => s.ResourcePath === '/*')!;
    expect(all).toMatchObject({ HttpMethod: '*', LoggingLevel: 'INFO', MetricsEnabled: true, ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 });
    const callback = settings.find((s) => s.ResourcePath === '/~1callback')!;
    expect(callback).toMatchObject({ HttpMethod: 'GET', LoggingLevel: 'ERROR', ThrottlingRateLimit: 2, ThrottlingBurstLimit: 5 });
    // The execution-log group is created with retention before the stage can write to it.
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: { 'Fn::Join': ['', ['API-Gateway-Execution-Logs_', Match.anyValue(), '/dev']] },
      RetentionInDays: 14,
    });
  });

  it('creates the table the adapter expects: on-demand, point-in-time recovery, TTL, both indexes', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const table = Object.values(resources(template, 'AWS::DynamoDB::Table'))[0]!;
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

  it('uses customer-managed KMS keys with rotation', () => {
    const keys = Object.values(resources(template, 'AWS::KMS::Key'));
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const key of keys) expect(key.Properties!.EnableKeyRotation).toBe(true);
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/oauth-broker/dev' });
  });

  it('runs the refresh job on a schedule, one at a time, with a failure destination', () => {
    const refreshId = logicalId(template, 'AWS::Lambda::Function', 'FunctionsRefresh');
    const queueId = logicalId(template, 'AWS::SQS::Queue', 'ScheduleFailures');
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [refreshId, 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
        }),
      ],
    });
    expect(functionProps(template, 'Refresh').ReservedConcurrentExecutions).toBe(1);
    for (const name of ['Profiles', 'AuthorizeUrl', 'Callback', 'Token']) {
      expect(functionProps(template, name).ReservedConcurrentExecutions).toBeUndefined();
    }
    // Each run ends before the next starts.
    expect(functionProps(template, 'Refresh').Timeout).toBeLessThan(300);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: refreshId },
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    });
    // The failure queue is encrypted and refuses plain HTTP.
    const queue = resources(template, 'AWS::SQS::Queue')[queueId]!.Properties!;
    expect(queue.SqsManagedSseEnabled).toBe(true);
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  describe('least privilege', () => {
    const expected: Record<(typeof FUNCTIONS)[number], string[]> = {
      Profiles: [
        'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem',
        'events:PutEvents',
        'kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey',
        'logs:CreateLogStream', 'logs:PutLogEvents',
        'secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret',
        'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource',
      ],
      AuthorizeUrl: ['dynamodb:GetItem', 'dynamodb:PutItem', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      Callback: [
        'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem',
        'events:PutEvents',
        'kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey',
        'logs:CreateLogStream', 'logs:PutLogEvents',
        'secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource',
      ],
      Token: [
        'dynamodb:GetItem', 'dynamodb:UpdateItem',
        'events:PutEvents',
        'kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey',
        'logs:CreateLogStream', 'logs:PutLogEvents',
        'secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource',
      ],
      Refresh: [
        'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem',
        'events:PutEvents',
        'kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey',
        'logs:CreateLogStream', 'logs:PutLogEvents',
        'secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource',
        'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage',
      ],
    };

    it.each(FUNCTIONS)('%s holds exactly its own actions, through its own role without managed policies', (name) => {
      expect(actionsOf(roleStatements(template, `Functions${name}Role`))).toEqual(expected[name]);
    });

    it('gives no function a right another function has that it does not need', () => {
      const token = actionsOf(roleStatements(template, 'FunctionsTokenRole'));
      // A profile deleted during a callback or refresh: the code deletes its re-created secrets (the grant
      // this test used to assert the absence of; lib/functions.ts).
      for (const name of ['Callback', 'Token', 'Refresh']) {
        expect(actionsOf(roleStatements(template, `Functions${name}Role`)), name).toContain('secretsmanager:DeleteSecret');
      }
      expect(actionsOf(roleStatements(template, 'FunctionsAuthorizeUrlRole'))).not.toContain('secretsmanager:DeleteSecret');
      expect(token).not.toContain('dynamodb:DeleteItem');
      expect(token).not.toContain('dynamodb:PutItem');
      const authorize = roleStatements(template, 'FunctionsAuthorizeUrlRole');
      expect(actionsOf(authorize).filter((a) => /^(secretsmanager|kms|events):/.test(a))).toEqual([]);
      // The token function may write only token sets, never client secrets.
      const tokenWrites = roleStatements(template, 'FunctionsTokenRole').filter((s) =>
        actionsOf([s]).some((a) => /secretsmanager:(Put|Create)/.test(a)),
      );
      for (const s of tokenWrites) {
        for (const r of resourceText(s)) expect(r).toMatch(/\/token-set(-\?{6}|\*|)"\]\]\}$/);
      }
      // The refresh function reads client secrets but never writes or creates them; it may create token sets.
      const refresh = roleStatements(template, 'FunctionsRefreshRole');
      for (const s of refresh.filter((st) => resourceText(st).join().includes('client-secret'))) {
        expect(actionsOf([s])).toEqual(['secretsmanager:DeleteSecret', 'secretsmanager:GetSecretValue']);
      }
      const refreshCreates = refresh.filter((s) => actionsOf([s]).includes('secretsmanager:CreateSecret'));
      expect(refreshCreates).toHaveLength(1);
      expect(resourceText(refreshCreates[0]!).join()).toMatch(/\/token-set\*"\]\]\}$/);
      // Index queries: the refresh job on `due` only, the profiles function on `gsi1` only (listing, and
      // deleting a profile's pending authorizations), nobody else; no function queries the table itself.
      const indexes = (stmts: Statement[]) =>
        stmts.filter((s) => resourceText(s).join().includes('/index/')).flatMap((s) => resourceText(s).map((r) => r.match(/\/index\/(\w+)/)![1]));
      expect(indexes(refresh)).toEqual(['due']);
      expect(indexes(roleStatements(template, 'FunctionsProfilesRole'))).toEqual(['gsi1']);
      expect(indexes(roleStatements(template, 'FunctionsCallbackRole'))).toEqual([]);
      expect(indexes(roleStatements(template, 'FunctionsTokenRole'))).toEqual([]);
      expect(indexes(roleStatements(template, 'FunctionsAuthorizeUrlRole'))).toEqual([]);
      for (const name of FUNCTIONS) {
        for (const s of roleStatements(template, `Functions${name}Role`).filter((st) => actionsOf([st]).includes('dynamodb:Query'))) {
          for (const r of resourceText(s)) expect(r).toContain('/index/');
        }
      }
    });

    it('names a resource, never "*", in every function policy; secrets stay under this environment\'s prefix', () => {
      for (const name of FUNCTIONS) {
        for (const s of roleStatements(template, `Functions${name}Role`)) {
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
          if (actionsOf([s]).some((a) => a.startsWith('kms:'))) {
            expect(s.Condition?.StringEquals?.['kms:ViaService']).toBeDefined();
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
      const secretStatements = FUNCTIONS.flatMap((name) =>
        roleStatements(template, `Functions${name}Role`)
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
      expect(plain.length).toBeGreaterThanOrEqual(FUNCTIONS.length - 1);
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

  it('alarms on refresh failures, profiles needing authorization, refresh-function errors and API 5xx, to an encrypted topic', () => {
    const topicId = logicalId(template, 'AWS::SNS::Topic', 'MonitoringAlarmTopic');
    const topic = resources(template, 'AWS::SNS::Topic')[topicId]!.Properties!;
    expect(topic.KmsMasterKeyId).toBeDefined();
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    const alarms = resources(template, 'AWS::CloudWatch::Alarm');
    const byId = (prefix: string) => alarms[logicalId(template, 'AWS::CloudWatch::Alarm', `Monitoring${prefix}`)]!.Properties!;
    for (const alarm of Object.values(alarms)) {
      expect(alarm.Properties!.AlarmActions).toEqual([{ Ref: topicId }]);
    }
    expect(byId('RefreshFunctionErrorsAlarm')).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Errors' });
    expect(byId('Api5xxAlarm')).toMatchObject({ Namespace: 'AWS/ApiGateway', MetricName: '5XXError' });
    expect(byId('RefreshFailureQueueAlarm')).toMatchObject({ Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible' });
    expect(byId('RefreshFailuresAlarm')).toMatchObject({ Namespace: 'AWS/Events', MetricName: 'TriggeredRules' });
    expect(byId('ProfilesNeedAuthorizationAlarm')).toMatchObject({ Namespace: 'AWS/Events', MetricName: 'TriggeredRules' });
    // The status rules match the events the runtime publishes.
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['oauth-broker'],
        'detail-type': ['Profile Status Changed'],
        detail: Match.objectLike({ to: ['authorization_required', 'error'] }),
      },
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ detail: Match.objectLike({ to: ['refresh_failing', 'expired'] }) }),
    });
    // No e-mail address is configured for dev.
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('outputs ApiUrl, CallbackUrl, TableName and a consumer policy for GET /profiles/*/token', () => {
    for (const name of ['ApiUrl', 'CallbackUrl', 'TableName', 'ConsumerPolicyArn']) template.hasOutput(name, Match.anyValue());
    const policies = Object.values(resources(template, 'AWS::IAM::ManagedPolicy'));
    expect(policies).toHaveLength(1);
    const statements = policies[0]!.Properties!.PolicyDocument.Statement as Statement[];
    expect(statements).toHaveLength(1);
    expect(actionsOf(statements)).toEqual(['execute-api:Invoke']);
    expect(resourceText(statements[0]!).join()).toMatch(/\/dev\/GET\/profiles\/\*\/token"\]\]\}$/);
  });
});

describe('prod stack', () => {
  let template: Template;
  let prod: Synthesized;

  beforeAll(() => {
    prod = synth({ env: 'prod' });
    template = prod.template;
  }, 60_000);

  it('keeps the table and the key, with deletion and termination protection', () => {
    expect(prod.stack.stackName).toBe('OAuthBroker-prod');
    expect(prod.stack.terminationProtection).toBe(true);
    const table = Object.values(resources(template, 'AWS::DynamoDB::Table'))[0]!;
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.Properties!.DeletionProtectionEnabled).toBe(true);
    expect(table.Properties!.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    for (const key of Object.values(resources(template, 'AWS::KMS::Key'))) expect(key.DeletionPolicy).toBe('Retain');
  });

  it('uses prod logging: INFO functions, ERROR execution logs, no data trace, 90-day retention', () => {
    for (const name of FUNCTIONS) {
      const fn = functionProps(template, name);
      expect(fn.Environment.Variables.POWERTOOLS_LOG_LEVEL).toBe('INFO');
      expect(fn.Environment.Variables.BROKER_SECRET_PREFIX).toBe('oauth-broker/prod');
    }
    const stage = Object.values(resources(template, 'AWS::ApiGateway::Stage'))[0]!.Properties!;
    expect(stage.StageName).toBe('prod');
    for (const s of stage.MethodSettings as Cfn[]) {
      expect(s.DataTraceEnabled).toBe(false);
      expect(s.LoggingLevel).toBe('ERROR');
    }
    for (const g of Object.values(resources(template, 'AWS::Logs::LogGroup'))) expect(g.Properties!.RetentionInDays).toBe(90);
  });
});

describe('optional settings', () => {
  let template: Template;

  beforeAll(() => {
    template = synth({
      env: 'dev',
      overrides: {
        alarmEmail: 'oncall@example.com',
        allowedPrincipals: {
          admin: { arns: ['arn:aws:iam::111122223333:role/broker-admin'] },
          token: { arns: ['arn:aws:iam::111122223333:role/mes-*'], organizationIds: ['o-a1b2c3d4e5'] },
        },
        customDomain: {
          domainName: 'broker.example.com',
          certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/0f2a1e63-0000-4000-8000-000000000000',
          hostedZone: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' },
        },
        webAclArn: 'arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/broker/0f2a1e63-0000-4000-8000-000000000000',
      },
    }).template;
  }, 60_000);

  it('subscribes the alarm e-mail address', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });

  it('limits the admin routes to the admin list and the token routes to the token list, and keeps the callback public', () => {
    const api = Object.values(resources(template, 'AWS::ApiGateway::RestApi'))[0]!.Properties!;
    const statements = api.Policy.Statement as (Statement & { NotResource?: unknown })[];
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));
    expect(Object.keys(bySid).sort()).toEqual([
      'DenyUnlistedAdminPrincipals', 'DenyUnlistedTokenPrincipals', 'ListedAdminPrincipalsOfOtherAccounts',
      'ListedTokenOrganizationsOfOtherAccounts', 'ListedTokenPrincipalsOfOtherAccounts', 'PublicRoutes',
    ]);
    expect(bySid.PublicRoutes).toMatchObject({ Effect: 'Allow', Principal: { AWS: '*' }, Resource: 'execute-api:/*/GET/callback' });
    expect(bySid.PublicRoutes!.Condition).toBeUndefined();
    // Admin statements cover everything but the token and public routes (IAM's `*` would also match `/token`).
    expect(bySid.DenyUnlistedAdminPrincipals).toMatchObject({
      Effect: 'Deny',
      NotResource: ['execute-api:/*/GET/profiles/*/token', 'execute-api:/*/GET/callback'],
      Condition: { ArnNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::111122223333:role/broker-admin'] } },
    });
    expect(bySid.DenyUnlistedTokenPrincipals).toMatchObject({
      Effect: 'Deny',
      Resource: 'execute-api:/*/GET/profiles/*/token',
      Condition: {
        ArnNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::111122223333:role/mes-*'] },
        StringNotEquals: { 'aws:PrincipalOrgID': ['o-a1b2c3d4e5'] },
      },
    });
    // Allows are for other accounts only: within the account, listing a principal grants it nothing.
    for (const sid of ['ListedAdminPrincipalsOfOtherAccounts', 'ListedTokenPrincipalsOfOtherAccounts', 'ListedTokenOrganizationsOfOtherAccounts']) {
      expect(bySid[sid]!.Condition!.StringNotEquals).toEqual({ 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' } });
    }
  });

  it('serves the callback on the custom domain and tells the functions so', () => {
    template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      DomainName: 'broker.example.com',
      SecurityPolicy: 'TLS_1_2',
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
    template.resourceCountIs('AWS::ApiGateway::BasePathMapping', 1);
    template.hasResourceProperties('AWS::Route53::RecordSet', { Name: 'broker.example.com.', Type: 'A' });
    for (const name of FUNCTIONS) {
      expect(functionProps(template, name).Environment.Variables.BROKER_CALLBACK_URL).toBe('https://broker.example.com/callback');
    }
    template.hasOutput('CallbackUrl', { Value: 'https://broker.example.com/callback' });
  });

  it('associates the WAF web ACL with the stage', () => {
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      WebACLArn: 'arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/broker/0f2a1e63-0000-4000-8000-000000000000',
    });
  });
});

describe('the environment\'s region, everywhere', () => {
  const regionsIn = (json: unknown) => {
    const text = JSON.stringify(json);
    return {
      literals: [...new Set(text.match(/\b(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d\b/g) ?? [])],
      pseudo: text.includes('"AWS::Region"'),
    };
  };

  it('a stack pinned to a region names that region in every ARN and never AWS::Region', () => {
    // Prepare: what `cdk synth` does when the CLI has a region (CDK_DEFAULT_REGION).
    const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
    const stack = addBrokerStack(app, 'dev', { region: 'eu-west-1' });

    // Act
    const found = regionsIn(Template.fromStack(stack).toJSON());

    // Assess: before, hand-built ARNs said AWS::Region while CDK's own said the literal region.
    expect(found).toEqual({ literals: ['eu-west-1'], pseudo: false });
  });

  it('an environment-agnostic stack uses AWS::Region everywhere and names no region', () => {
    expect(regionsIn(synth({ env: 'prod' }).template.toJSON())).toEqual({ literals: [], pseudo: true });
  });
});
