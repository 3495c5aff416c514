/**
 * The broker's REST API: one method per route of lib/routes.ts (SigV4 on every signed route, none on the
 * public ones), request validation, API Gateway's own answers in the contract's error shape, the resource
 * policy of `allowedPrincipals`, access and execution logs, and the optional custom domain and WAF.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { FunctionKey } from '../../lib/functions.js';
import { CLIENT_ASSERTION_AUDIENCES } from '../../lib/keys/client-assertion.js';
import { SIGNING_ALGORITHMS } from '../../lib/keys/signer.js';
import { CLIENT_AUTH_METHODS, GRANT_TYPES } from '../../lib/profile.js';
import { executeApiPattern, ROUTES, type RouteAuth, type RouteSpec } from '../../lib/routes.js';
import { accessLogFormat } from '../access-log.js';
import type { EnvironmentSettings, PrincipalList } from '../environments.js';
import { acknowledge, managedPolicyFinding } from '../nag.js';

export interface BrokerApiProps {
  readonly settings: EnvironmentSettings;
}

/** Why each public route may be called unsigned (cdk-nag AwsSolutions-APIG4); other public routes get the general reason. */
const PUBLIC_ROUTE_REASONS: Record<string, string> = {
  'GET /callback':
    'GET /callback is the OAuth redirect URI: the authorization server sends the administrator\'s browser here, which cannot sign requests. It acts only on an unguessable, single-use, 10-minute state bound to a PKCE verifier, and is throttled separately.',
  'GET /jwks':
    'GET /jwks is the broker\'s public JSON Web Key Set, fetched by authorization servers as the client\'s jwks_uri (RFC 7523, OpenID Connect private_key_jwt), which cannot sign requests. It serves public keys only, cacheable, and is throttled like the callback.',
};
const PUBLIC_ROUTE_REASON =
  'docs/api.md makes this route public: its callers (a browser or an authorization server) cannot sign requests with SigV4. It serves nothing secret and is throttled like the callback.';

export class BrokerApi extends Construct {
  readonly api: apigw.RestApi;
  /** The public callback URL registered at the authorization servers. */
  readonly callbackUrl: string;
  readonly stageName: string;

  constructor(scope: Construct, id: string, { settings }: BrokerApiProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const keep = settings.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const stageName = (this.stageName = settings.name);
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: settings.logRetention, removalPolicy: keep });
    const resourcePolicy = settings.allowedPrincipals ? apiResourcePolicy(settings.allowedPrincipals, stack) : undefined;
    const publicRoutes = ROUTES.filter((route) => route.auth === 'public');
    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: `oauth-broker-${settings.name}`,
      description: `oauth-broker ${settings.name}: SigV4 (AWS_IAM) on every route except ${publicRoutes.map((r) => `${r.method} ${r.path}`).join(', ')}`,
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      // Retained on stack deletion: the account setting keeps pointing at it for the other APIs.
      ...(settings.manageApiGatewayAccountRole
        ? { cloudWatchRole: true, cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN }
        : { cloudWatchRole: false }),
      ...(resourcePolicy ? { policy: resourcePolicy } : {}),
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      deployOptions: {
        stageName,
        description: `oauth-broker ${settings.name}`,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.custom(accessLogFormat()),
        loggingLevel: apigw.MethodLoggingLevel[settings.apiExecutionLogLevel],
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: false,
        throttlingRateLimit: settings.throttling.rateLimit,
        throttlingBurstLimit: settings.throttling.burstLimit,
        // Public routes: tighter throttling, and execution logs at ERROR only whatever the stage level, so
        // that the callback's query string (code, state) can appear in no log line at all.
        methodOptions: Object.fromEntries(
          publicRoutes.map((route) => [
            `${route.path}/${route.method}`,
            {
              loggingLevel: apigw.MethodLoggingLevel.ERROR,
              dataTraceEnabled: false,
              metricsEnabled: true,
              throttlingRateLimit: settings.throttling.callbackRateLimit,
              throttlingBurstLimit: settings.throttling.callbackBurstLimit,
            },
          ]),
        ),
      },
    });
    // RestApi adds an `Endpoint` output of its own; the stack's `ApiUrl` is the one documented.
    this.api.node.tryRemoveChild('Endpoint');
    if (resourcePolicy) {
      // A changed resource policy takes effect only with a new deployment.
      this.api.latestDeployment?.addToLogicalId({ policy: resourcePolicy.toJSON() });
    }
    // Execution logs go to a log group API Gateway would otherwise create on first use, without retention.
    const executionLogs = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.api.restApiId}/${stageName}`,
      retention: settings.logRetention,
      removalPolicy: keep,
    });
    this.api.deploymentStage.node.addDependency(executionLogs);

    this.callbackUrl = settings.customDomain
      ? `https://${settings.customDomain.domainName}/callback`
      : // Not `api.url`: a function referring to the deployment would depend on the methods that refer to it.
        `https://${this.api.restApiId}.execute-api.${stack.region}.${stack.urlSuffix}/${stageName}/callback`;

    addGatewayResponses(this.api);
    acknowledge(
      this.api,
      'AwsSolutions-COG4',
      'Callers are AWS workloads and administrators with IAM identities: every route except the public ones uses AWS_IAM (SigV4) authorization, so no Cognito user pool is involved; the public routes cannot carry any authorization (see APIG4).',
    );
    if (settings.manageApiGatewayAccountRole) {
      const role = this.api.node.tryFindChild('CloudWatchRole');
      if (role) {
        acknowledge(
          role,
          'AwsSolutions-IAM4',
          'The account-wide API Gateway CloudWatch Logs role uses the AWS managed policy made for it; it serves every REST API of the account and region, so it cannot be narrowed to this API\'s log groups.',
          [managedPolicyFinding('service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
        );
      }
    }
    if (settings.webAclArn) {
      new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
        resourceArn: this.api.deploymentStage.stageArn,
        webAclArn: settings.webAclArn,
      });
    } else {
      acknowledge(
        this.api.deploymentStage,
        'AwsSolutions-APIG3',
        'No WAF web ACL is configured for this environment: every route but the public ones requires SigV4, the callback needs a valid single-use state, and the stage and public routes are throttled. Set webAclArn in cdk/environments.ts to associate one.',
      );
    }
    if (settings.customDomain) this.#addCustomDomain(settings.customDomain);
  }

  /** One method per route of lib/routes.ts, each a Lambda proxy integration of its function. */
  addRoutes(functions: Readonly<Record<FunctionKey, lambda.IFunction>>): void {
    const validator = this.api.addRequestValidator('RequestValidator', {
      requestValidatorName: 'body-and-parameters',
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const models = {
      ProfileInput: this.api.addModel('ProfileInput', {
        contentType: 'application/json',
        modelName: 'ProfileInput',
        description: 'PUT /profiles/{id} body (docs/api.md); the function checks the rest (URLs, reserved parameters, combinations)',
        schema: profileInputSchema(),
      }),
    };
    const integrations = new Map<FunctionKey, apigw.LambdaIntegration>();
    const integration = (key: FunctionKey) => {
      if (!integrations.has(key)) integrations.set(key, new apigw.LambdaIntegration(functions[key], { proxy: true, allowTestInvoke: false }));
      return integrations.get(key)!;
    };
    for (const route of ROUTES as readonly RouteSpec[]) {
      const resource = route.path.split('/').filter(Boolean).reduce<apigw.IResource>(
        (parent, part) => parent.getResource(part) ?? parent.addResource(part),
        this.api.root,
      );
      const requestParameters: Record<string, boolean> = {};
      for (const [, name] of route.path.matchAll(/\{([^}]+)\}/g)) requestParameters[`method.request.path.${name}`] = true;
      for (const [name, required] of Object.entries(route.query ?? {})) requestParameters[`method.request.querystring.${name}`] = required;
      const method = resource.addMethod(route.method, integration(route.function), {
        requestValidator: validator,
        // A public route has no required parameters: an authorization server's error redirect has no
        // `code`, and every answer of the callback must be its HTML page (docs/api.md), never API Gateway's JSON.
        ...(route.auth === 'public' ? { authorizationType: apigw.AuthorizationType.NONE } : { requestParameters }),
        ...(route.body ? { requestModels: { 'application/json': models[route.body] } } : {}),
      });
      if (route.auth === 'public') {
        acknowledge(method, 'AwsSolutions-APIG4', PUBLIC_ROUTE_REASONS[`${route.method} ${route.path}`] ?? PUBLIC_ROUTE_REASON);
      }
    }
  }

  /** The execute-api ARN of `GET /profiles/<profileId>/token` on this stage. */
  tokenRouteArn(profileId: string): string {
    return Stack.of(this).formatArn({
      service: 'execute-api',
      resource: this.api.restApiId,
      resourceName: `${this.stageName}/GET/profiles/${profileId}/token`,
    });
  }

  #addCustomDomain({ domainName, certificateArn, hostedZone }: NonNullable<EnvironmentSettings['customDomain']>): void {
    const domain = this.api.addDomainName('CustomDomain', {
      domainName,
      certificate: acm.Certificate.fromCertificateArn(this, 'CustomDomainCertificate', certificateArn),
      endpointType: apigw.EndpointType.REGIONAL,
      securityPolicy: apigw.SecurityPolicy.TLS_1_2,
    });
    if (hostedZone) {
      new route53.ARecord(this, 'CustomDomainRecord', {
        zone: route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', hostedZone),
        recordName: domainName,
        target: route53.RecordTarget.fromAlias(new route53Targets.ApiGatewayDomain(domain)),
      });
    }
  }
}

/** The resource-policy patterns of the routes of one kind of caller. */
const patternsOf = (auth: RouteAuth): string[] => [...new Set(ROUTES.filter((r) => r.auth === auth).map((r) => executeApiPattern(r)))];

/**
 * With `allowedPrincipals`: only the admin list may call the admin routes and only the token list the token
 * routes, whatever their IAM policies say (an explicit Deny wins); the public routes stay open.
 *
 * The Allows apply to other accounts only: a cross-account SigV4 call needs the resource policy to allow
 * it (and the caller's own IAM policy, which still decides the routes). Within this account, the caller's
 * IAM policy alone grants access, so listing a principal gives it nothing it does not already have: a
 * consumer limited to one profile's token stays limited to it.
 *
 * IAM's `*` also matches `/`: `/profiles/*` would cover `/profiles/x/token`. So the admin statements name
 * what they do NOT cover (the token and public routes, `NotResource`), and the token statements name the
 * token routes.
 */
export function apiResourcePolicy(allowed: NonNullable<EnvironmentSettings['allowedPrincipals']>, stack: Stack): iam.PolicyDocument {
  const publicRoutes = patternsOf('public');
  const tokenRoutes = patternsOf('iam-token');
  // NotResource in both forms: the `execute-api:/…` shorthand API Gateway documents expanding for this API,
  // and the full ARN with any API id (the policy is this API's own, which it cannot name), so that the
  // exclusion holds whether or not the shorthand is expanded inside NotResource.
  const fullArn = (pattern: string) =>
    stack.formatArn({ service: 'execute-api', resource: '*', resourceName: pattern.replace(/^execute-api:\//, '') });
  const notAdmin = [...tokenRoutes, ...publicRoutes];
  const groups = [
    { name: 'Admin', list: allowed.admin, scope: { notResources: [...notAdmin, ...notAdmin.map(fullArn)] } },
    { name: 'Token', list: allowed.token, scope: { resources: tokenRoutes } },
  ];
  const otherAccounts = { StringNotEquals: { 'aws:PrincipalAccount': stack.account } };
  const statements = [
    new iam.PolicyStatement({
      sid: 'PublicRoutes',
      principals: [new iam.AnyPrincipal()],
      actions: ['execute-api:Invoke'],
      resources: publicRoutes,
    }),
  ];
  /** Anyone, `execute-api:Invoke` on `scope`, under `conditions`. */
  const invoke = (sid: string, scope: { resources?: string[]; notResources?: string[] }, conditions: Record<string, unknown>, effect = iam.Effect.ALLOW) =>
    new iam.PolicyStatement({ sid, effect, principals: [new iam.AnyPrincipal()], actions: ['execute-api:Invoke'], ...scope, conditions });
  for (const { name, list, scope } of groups) {
    const { arns, organizationIds } = principalList(list);
    if (arns.length > 0) {
      statements.push(invoke(`Listed${name}PrincipalsOfOtherAccounts`, scope, { ArnLike: { 'aws:PrincipalArn': arns }, ...otherAccounts }));
    }
    if (organizationIds.length > 0) {
      statements.push(invoke(`Listed${name}OrganizationsOfOtherAccounts`, scope, { StringEquals: { 'aws:PrincipalOrgID': organizationIds }, ...otherAccounts }));
    }
    // Refused unless listed by ARN or by organisation (conditions of one statement must all hold).
    statements.push(
      invoke(
        `DenyUnlisted${name}Principals`,
        scope,
        {
          ...(arns.length > 0 ? { ArnNotLike: { 'aws:PrincipalArn': arns } } : {}),
          ...(organizationIds.length > 0 ? { StringNotEquals: { 'aws:PrincipalOrgID': organizationIds } } : {}),
        },
        iam.Effect.DENY,
      ),
    );
  }
  return new iam.PolicyDocument({ statements });
}

function principalList(list: PrincipalList): { arns: string[]; organizationIds: string[] } {
  return { arns: [...(list.arns ?? [])], organizationIds: [...(list.organizationIds ?? [])] };
}

/** A coarse JSON Schema (draft 4) of the PUT body: types, enums and bounds. The function does the rest. */
function profileInputSchema(): apigw.JsonSchema {
  const { STRING, OBJECT, BOOLEAN, INTEGER } = apigw.JsonSchemaType;
  const url: apigw.JsonSchema = { type: STRING, minLength: 1, maxLength: 2048 };
  const params: apigw.JsonSchema = { type: OBJECT, additionalProperties: { type: STRING, maxLength: 2048 } };
  return {
    schema: apigw.JsonSchemaVersion.DRAFT4,
    title: 'ProfileInput',
    type: OBJECT,
    required: ['clientId'],
    properties: {
      grantType: { type: STRING, enum: [...GRANT_TYPES] },
      authorizationUrl: url,
      tokenUrl: url,
      issuer: url,
      revocationUrl: url,
      clientId: { type: STRING, minLength: 1, maxLength: 1024 },
      clientSecret: { type: STRING, minLength: 1, maxLength: 4096 },
      clientAuthMethod: { type: STRING, enum: [...CLIENT_AUTH_METHODS] },
      scope: { type: STRING, maxLength: 2048 },
      authorizationParams: params,
      tokenParams: params,
      usePkce: { type: BOOLEAN },
      defaultTokenLifetimeSeconds: { type: INTEGER, minimum: 60, maximum: 86_400 },
      clientAssertionAlgorithm: { type: STRING, enum: [...SIGNING_ALGORITHMS] },
      clientAssertionAudience: { type: STRING, enum: [...CLIENT_ASSERTION_AUDIENCES] },
    },
  };
}

/** The `error` code of API Gateway's own 403s (signature or IAM refusals): an addition to docs/api.md's codes. */
export const GATEWAY_FORBIDDEN_CODE = 'forbidden';

/**
 * Answers API Gateway itself produces, in the contract's error shape `{"error","message"}` (docs/api.md), each
 * with `Cache-Control: no-store`:
 *
 * | gateway response | status | error |
 * |---|---|---|
 * | BAD_REQUEST_BODY, BAD_REQUEST_PARAMETERS (request validation) | 400 | `invalid_request` |
 * | MISSING_AUTHENTICATION_TOKEN (unknown route, or an IAM route called unsigned), RESOURCE_NOT_FOUND | 404 | `not_found` |
 * | ACCESS_DENIED, INVALID_SIGNATURE, EXPIRED_TOKEN, UNAUTHORIZED, WAF_FILTERED | 403 | `forbidden` (addition) |
 * | THROTTLED (stage or method throttling) | 503, `Retry-After: 1` | `temporarily_unavailable` |
 * | INTEGRATION_TIMEOUT (29 s) | 503, `Retry-After: 5` | `temporarily_unavailable` |
 * | DEFAULT_4XX (any other 4xx: 413, 415, …) | its own | `invalid_request` |
 * | DEFAULT_5XX (any other 5xx) | 500 | `internal_error` |
 *
 * Messages are fixed text, except for ACCESS_DENIED, UNAUTHORIZED, WAF_FILTERED and DEFAULT_4XX, which carry
 * `$context.error.messageString` (a JSON-quoted string, what API Gateway would have said itself: e.g. "User:
 * … is not authorized to perform: execute-api:Invoke on resource: …", which names the caller and the route).
 * Fixed everywhere else: `$context.error.validationErrorString` can quote the body; INVALID_SIGNATURE's own
 * message quotes the canonical request, signed headers included, so it can echo the caller's session token
 * (`X-Amz-Security-Token`) into whatever logs the caller's error; and a 5xx never carries exception text.
 *
 * Limitation: gateway responses belong to the whole API, not to a route, and their templates are not VTL
 * (no conditions on the route). So `GET /callback` answers this JSON, not its HTML page, whenever API
 * Gateway answers for it instead of its function: when its method throttling (or the stage's) rejects the
 * request (503), at the integration timeout (503), when the function fails outright or cannot be invoked
 * (500), or when a WAF web ACL blocks the request (403). docs/api.md's "HTML only" holds for every answer of the
 * callback function itself, not for these.
 */
export function addGatewayResponses(api: apigw.RestApi): void {
  const json = (error: string, message: string) => ({ 'application/json': JSON.stringify({ error, message }) });
  // `messageString` is substituted already quoted: it goes in unquoted.
  const jsonWithGatewayMessage = (error: string) => ({
    'application/json': `{"error":${JSON.stringify(error)},"message":$context.error.messageString}`,
  });
  const headers = { 'Cache-Control': "'no-store'" };
  api.addGatewayResponse('BadRequestBody', {
    type: apigw.ResponseType.BAD_REQUEST_BODY,
    statusCode: '400',
    responseHeaders: headers,
    templates: json('invalid_request', 'The request body is not valid JSON of the expected shape.'),
  });
  api.addGatewayResponse('BadRequestParameters', {
    type: apigw.ResponseType.BAD_REQUEST_PARAMETERS,
    statusCode: '400',
    responseHeaders: headers,
    templates: json('invalid_request', 'A required request parameter is missing.'),
  });
  // API Gateway answers "Missing Authentication Token" both for a route that does not exist and for an IAM
  // route called without a signature; the two cannot be told apart here.
  const unsigned = ROUTES.filter((route) => route.auth === 'public').map((route) => `${route.method} ${route.path}`);
  const noSuchRoute = json('not_found', `No such route. (Every route except ${unsigned.join(' and ')} must also be signed with SigV4.)`);
  api.addGatewayResponse('MissingAuthenticationToken', {
    type: apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    statusCode: '404',
    responseHeaders: headers,
    templates: noSuchRoute,
  });
  api.addGatewayResponse('ResourceNotFound', {
    type: apigw.ResponseType.RESOURCE_NOT_FOUND,
    statusCode: '404',
    responseHeaders: headers,
    templates: noSuchRoute,
  });
  const refusals: [string, apigw.ResponseType, string | undefined][] = [
    ['AccessDenied', apigw.ResponseType.ACCESS_DENIED, undefined],
    [
      'InvalidSignature',
      apigw.ResponseType.INVALID_SIGNATURE,
      'The request signature does not match: check the credentials, the region and that the request is signed for service execute-api (SigV4).',
    ],
    ['ExpiredToken', apigw.ResponseType.EXPIRED_TOKEN, 'The security token of the request has expired: refresh the AWS credentials.'],
    ['Unauthorized', apigw.ResponseType.UNAUTHORIZED, undefined],
    ['WafFiltered', apigw.ResponseType.WAF_FILTERED, undefined],
  ];
  for (const [id, type, message] of refusals) {
    api.addGatewayResponse(id, {
      type,
      statusCode: '403',
      responseHeaders: headers,
      templates: message === undefined ? jsonWithGatewayMessage(GATEWAY_FORBIDDEN_CODE) : json(GATEWAY_FORBIDDEN_CODE, message),
    });
  }
  api.addGatewayResponse('Throttled', {
    type: apigw.ResponseType.THROTTLED,
    statusCode: '503',
    responseHeaders: { ...headers, 'Retry-After': "'1'" },
    templates: json('temporarily_unavailable', 'Too many requests right now; retry shortly.'),
  });
  api.addGatewayResponse('IntegrationTimeout', {
    type: apigw.ResponseType.INTEGRATION_TIMEOUT,
    statusCode: '503',
    responseHeaders: { ...headers, 'Retry-After': "'5'" },
    templates: json('temporarily_unavailable', 'The request took too long; retry shortly.'),
  });
  // No status code: each other 4xx keeps its own (413 request too large, 415 unsupported media type, …).
  api.addGatewayResponse('Default4xx', {
    type: apigw.ResponseType.DEFAULT_4XX,
    responseHeaders: headers,
    templates: jsonWithGatewayMessage('invalid_request'),
  });
  api.addGatewayResponse('Default5xx', {
    type: apigw.ResponseType.DEFAULT_5XX,
    statusCode: '500',
    responseHeaders: headers,
    templates: json('internal_error', 'The broker failed to answer.'),
  });
}
