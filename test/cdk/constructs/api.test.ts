/**
 * cdk/constructs/api.ts: the REST API built from lib/routes.ts, its validation, its own answers in the
 * contract's shape, its logs, the resource policy of `allowedPrincipals`, the custom domain and WAF.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { ACCESS_LOG_FIELDS } from '../../../cdk/access-log.js';
import { BrokerApi } from '../../../cdk/constructs/api.js';
import { environments } from '../../../cdk/environments.js';
import { functionKeys, type FunctionKey } from '../../../lib/functions.js';
import { profileInputSchema } from '../../../lib/profile-input.js';
import { ROUTES } from '../../../lib/routes.js';
import { type Cfn, FUNCTION_IDS, functionProps, logicalId, resources, type Route, routes, synthesized, type Statement, focusedStack } from '../support.js';

describe('BrokerApi on its own', () => {
  it('adds one method per route of lib/routes.ts, to the function the table names, public ones unsigned', () => {
    // Prepare
    const stack = focusedStack();
    const api = new BrokerApi(stack, 'Api', { settings: environments.dev });
    const fn = (key: FunctionKey) =>
      new lambda.Function(stack, key, { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('export const handler = 1;') });
    const functions = Object.fromEntries(functionKeys().map((key) => [key, fn(key)])) as Record<FunctionKey, lambda.Function>;

    // Act
    api.addRoutes(functions);
    const template = Template.fromStack(stack);

    // Assess
    const built = routes(template).map((r) => `${r.method} ${r.path} ${r.properties.AuthorizationType} ${JSON.stringify(r.properties.Integration.Uri).match(/"(profiles|authorizeUrl|callback|token|refresh|jwks|keys)[0-9A-F]{8}"/)?.[1]}`);
    expect(built.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path} ${r.auth === 'public' ? 'NONE' : 'AWS_IAM'} ${r.function}`).sort());
    expect(api.callbackUrl).toContain('/dev/callback');
  });
});

describe('the API of the dev stack', () => {
  const dev = synthesized({ env: 'dev' });

  it('requires AWS_IAM on every route except GET /callback and GET /jwks, which are public', () => {
    const all = routes(dev.template);
    expect(all.map((r) => `${r.method} ${r.path}`).sort()).toEqual([
      'DELETE /profiles/{id}',
      'GET /callback',
      'GET /jwks',
      'GET /keys',
      'GET /profiles',
      'GET /profiles/{id}',
      'GET /profiles/{id}/authorize-url',
      'GET /profiles/{id}/signing-key',
      'GET /profiles/{id}/token',
      'POST /keys/promote',
      'POST /keys/rotate',
      'POST /keys/withdraw',
      'POST /profiles/{id}/refresh',
      'PUT /profiles/{id}',
    ]);
    for (const route of all) {
      const expected = route.method === 'GET' && (route.path === '/callback' || route.path === '/jwks') ? 'NONE' : 'AWS_IAM';
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
    dev.template.resourceCountIs('AWS::ApiGateway::RequestValidator', 1);
    const validatorId = logicalId(dev.template, 'AWS::ApiGateway::RequestValidator', 'Api');
    dev.template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true, ValidateRequestParameters: true });
    for (const route of routes(dev.template)) {
      expect(route.properties.RequestValidatorId).toEqual({ Ref: validatorId });
      if (route.path.includes('{id}')) expect(route.properties.RequestParameters).toMatchObject({ 'method.request.path.id': true });
    }
    const put = routes(dev.template).find((r) => r.method === 'PUT')!;
    const modelId = (put.properties.RequestModels['application/json'] as { Ref: string }).Ref;
    const model = resources(dev.template, 'AWS::ApiGateway::Model')[modelId]!.Properties!;
    expect(model.Schema).toMatchObject({ type: 'object', required: ['clientId'] });
    expect(model.Schema.properties.grantType.enum).toEqual(['authorization_code', 'client_credentials']);
    // The gateway's coarse model names exactly the fields the function accepts (a field missing here would
    // be the gateway's own drift from lib/profile-input.ts).
    expect(Object.keys(model.Schema.properties).sort()).toEqual(Object.keys(profileInputSchema.def.shape).sort());
    expect(model.Schema.properties.clientAssertionAlgorithm.enum).toEqual(['ES256', 'RS256', 'PS256']);
    // Validation failures answer in the contract's error shape.
    dev.template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'BAD_REQUEST_BODY',
      StatusCode: '400',
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"error":"invalid_request"') },
    });
  });

  it('answers API Gateway\'s own errors in the contract\'s {error, message} shape, never with its bare {"message"}', () => {
    // Prepare
    const byType = Object.fromEntries(
      Object.values(resources(dev.template, 'AWS::ApiGateway::GatewayResponse')).map((r) => [r.Properties!.ResponseType as string, r.Properties!]),
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

  it('writes JSON access logs that cannot contain a query string, and execution logs without data trace', () => {
    const stage = Object.values(resources(dev.template, 'AWS::ApiGateway::Stage'))[0]!.Properties!;
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
    dev.template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: { 'Fn::Join': ['', ['API-Gateway-Execution-Logs_', Match.anyValue(), '/dev']] },
      RetentionInDays: 14,
    });
  });
});

describe('the API with optional settings', () => {
  const configured = synthesized({
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
    });

  it('limits the admin routes to the admin list and the token routes to the token list, and keeps the callback public', () => {
    const api = Object.values(resources(configured.template, 'AWS::ApiGateway::RestApi'))[0]!.Properties!;
    const statements = api.Policy.Statement as (Statement & { NotResource?: unknown })[];
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));
    expect(Object.keys(bySid).sort()).toEqual([
      'DenyUnlistedAdminPrincipals', 'DenyUnlistedTokenPrincipals', 'ListedAdminPrincipalsOfOtherAccounts',
      'ListedTokenOrganizationsOfOtherAccounts', 'ListedTokenPrincipalsOfOtherAccounts', 'PublicRoutes',
    ]);
    expect(bySid.PublicRoutes).toMatchObject({ Effect: 'Allow', Principal: { AWS: '*' }, Resource: ['execute-api:/*/GET/callback', 'execute-api:/*/GET/jwks'] });
    expect(bySid.PublicRoutes!.Condition).toBeUndefined();
    // Admin statements cover everything but the token and public routes (IAM's `*` would also match `/token`).
    expect(bySid.DenyUnlistedAdminPrincipals).toMatchObject({
      Effect: 'Deny',
      NotResource: [
        'execute-api:/*/GET/profiles/*/token',
        'execute-api:/*/GET/callback',
        'execute-api:/*/GET/jwks',
        ...['*/GET/profiles/*/token', '*/GET/callback', '*/GET/jwks'].map((route) => ({
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':execute-api:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:*/${route}`]],
        })),
      ],
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
    configured.template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      DomainName: 'broker.example.com',
      SecurityPolicy: 'TLS_1_2',
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
    configured.template.resourceCountIs('AWS::ApiGateway::BasePathMapping', 1);
    configured.template.hasResourceProperties('AWS::Route53::RecordSet', { Name: 'broker.example.com.', Type: 'A' });
    for (const name of FUNCTION_IDS) {
      expect(functionProps(configured.template, name).Environment.Variables.BROKER_CALLBACK_URL).toBe('https://broker.example.com/callback');
    }
    configured.template.hasOutput('CallbackUrl', { Value: 'https://broker.example.com/callback' });
  });

  it('associates the WAF web ACL with the stage', () => {
    configured.template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      WebACLArn: 'arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/broker/0f2a1e63-0000-4000-8000-000000000000',
    });
  });
});
