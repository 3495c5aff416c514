/**
 * One environment of the broker (DESIGN.md "Shape"): the table, the KMS key for the secrets, the five
 * functions with least-privilege roles, the REST API (SigV4 on every route but the callback), the refresh
 * schedule, alarms and outputs.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaDestinations from 'aws-cdk-lib/aws-lambda-destinations';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../lib/adapters/dynamodb-profile-store.js';
import { EVENT_SOURCE, STATUS_CHANGED_DETAIL_TYPE } from '../lib/events.js';
import { PROFILE_ID_TAG } from '../lib/adapters/secrets-manager-vault.js';
import { CLIENT_AUTH_METHODS, GRANT_TYPES } from '../lib/profile.js';
import { accessLogFormat } from './access-log.js';
import type { EnvironmentSettings } from './environments.js';
import { acknowledge, managedPolicyFinding, resourceFinding } from './nag.js';
import { FUNCTION_GRANTS, type FunctionKey } from './permissions.js';

/** The repository root: `lambdas/`, `package-lock.json` and `tsconfig.json` live there. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const SERVICE_NAME = 'oauth-broker';
export const METRICS_NAMESPACE = 'OAuthBroker';

/** API Gateway's default (and, for REST APIs, usual maximum) integration timeout. */
export const API_INTEGRATION_TIMEOUT_SECONDS = 29;

/** The esbuild banner that gives an ESM bundle a CommonJS `require` for dependencies that still call it. */
export const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

interface FunctionSpec {
  /** Entry file under `lambdas/`; it exports `handler`. */
  entry: string;
  description: string;
  memorySize: number;
  timeout: Duration;
  reservedConcurrentExecutions?: number;
}

export interface BrokerStackProps extends StackProps {
  readonly settings: EnvironmentSettings;
}

export class BrokerStack extends Stack {
  readonly settings: EnvironmentSettings;
  readonly table: dynamodb.Table;
  readonly secretsKey: kms.Key;
  readonly api: apigw.RestApi;
  readonly functions: Record<FunctionKey, NodejsFunction>;
  readonly alarmTopic: sns.Topic;
  readonly refreshFailures: sqs.Queue;
  readonly consumerPolicy: iam.ManagedPolicy;
  /** The public callback URL registered at the authorization servers. */
  readonly callbackUrl: string;

  constructor(scope: Construct, id: string, props: BrokerStackProps) {
    const { settings, ...stackProps } = props;
    super(scope, id, {
      description: `oauth-broker (${settings.name}): OAuth 2.0 token broker: profiles, consent callback, refresh, SigV4 token endpoint`,
      terminationProtection: settings.retainData,
      ...stackProps,
    });
    this.settings = settings;
    Tags.of(this).add('project', SERVICE_NAME);
    Tags.of(this).add('environment', settings.name);

    const keep = settings.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const stageName = settings.name;
    const secretPrefix = `${settings.secretPrefix}/${settings.name}`;
    const refreshIntervalSeconds = settings.refreshIntervalMinutes * 60;

    // ---------------------------------------------------------------------------------------------
    // Data: table and the KMS key of the secrets
    // ---------------------------------------------------------------------------------------------
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

    this.secretsKey = new kms.Key(this, 'SecretsKey', {
      description: `oauth-broker ${settings.name}: encrypts the client secrets and token sets under ${secretPrefix}/`,
      alias: `alias/${secretPrefix.replace(/[^A-Za-z0-9/_-]/g, '-')}`,
      enableKeyRotation: true,
      removalPolicy: keep,
    });

    // ---------------------------------------------------------------------------------------------
    // Operations: the notification topic and the refresh failure queue
    // ---------------------------------------------------------------------------------------------
    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: `oauth-broker ${settings.name}: encrypts the alarm topic`,
      enableKeyRotation: true,
      removalPolicy: keep,
    });
    // CloudWatch alarms and EventBridge publish to the encrypted topic: each needs the key through SNS.
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowAlarmAndEventPublishers',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com'), new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `oauth-broker ${settings.name} alarms`,
      masterKey: topicKey,
      enforceSSL: true,
    });
    if (settings.alarmEmail) {
      this.alarmTopic.addSubscription(new snsSubscriptions.EmailSubscription(settings.alarmEmail));
    }

    this.refreshFailures = new sqs.Queue(this, 'RefreshFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(
      this.refreshFailures,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter destination of the refresh function and of its schedule target; a queue behind it would only move the same messages again.',
    );

    // ---------------------------------------------------------------------------------------------
    // The REST API (created before the functions: they need its id for the callback URL)
    // ---------------------------------------------------------------------------------------------
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', { retention: settings.logRetention, removalPolicy: keep });
    const resourcePolicy = settings.allowedPrincipals ? apiResourcePolicy(settings.allowedPrincipals) : undefined;
    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: `oauth-broker-${settings.name}`,
      description: `oauth-broker ${settings.name}: SigV4 (AWS_IAM) on every route except GET /callback`,
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
        methodOptions: {
          // The public callback: tighter throttling, and execution logs at ERROR only whatever the stage
          // level, so that its query string (code, state) can appear in no log line at all.
          '/callback/GET': {
            loggingLevel: apigw.MethodLoggingLevel.ERROR,
            dataTraceEnabled: false,
            metricsEnabled: true,
            throttlingRateLimit: settings.throttling.callbackRateLimit,
            throttlingBurstLimit: settings.throttling.callbackBurstLimit,
          },
        },
      },
    });
    // RestApi adds an `Endpoint` output of its own; `ApiUrl` below is the one this stack documents.
    this.api.node.tryRemoveChild('Endpoint');
    if (resourcePolicy) {
      // A changed resource policy takes effect only with a new deployment.
      this.api.latestDeployment?.addToLogicalId({ policy: resourcePolicy.toJSON() });
    }
    // Execution logs go to a log group API Gateway would otherwise create on first use, without retention.
    const executionLogs = new logs.LogGroup(this, 'ApiExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.api.restApiId}/${stageName}`,
      retention: settings.logRetention,
      removalPolicy: keep,
    });
    this.api.deploymentStage.node.addDependency(executionLogs);

    const restApiId = this.api.restApiId;
    this.callbackUrl = settings.customDomain
      ? `https://${settings.customDomain.domainName}/callback`
      : // Not `api.url`: a function referring to the deployment would depend on the methods that refer to it.
        `https://${restApiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}/${stageName}/callback`;

    // ---------------------------------------------------------------------------------------------
    // Functions
    // ---------------------------------------------------------------------------------------------
    const environment: Record<string, string> = {
      BROKER_ENVIRONMENT: settings.name,
      BROKER_TABLE_NAME: this.table.tableName,
      BROKER_SECRET_PREFIX: secretPrefix,
      BROKER_KMS_KEY_ID: this.secretsKey.keyArn,
      BROKER_CALLBACK_URL: this.callbackUrl,
      BROKER_EVENT_BUS_NAME: 'default',
      BROKER_REFRESH_INTERVAL_SECONDS: String(refreshIntervalSeconds),
      BROKER_REFRESH_MARGIN_SECONDS: String(settings.refreshMarginSeconds),
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_LOG_LEVEL: settings.logLevel,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      NODE_OPTIONS: '--enable-source-maps',
    };

    // Each run must end well before the next one starts (reserved concurrency 1 would throttle it).
    const refreshTimeoutSeconds = Math.max(30, Math.min(900, refreshIntervalSeconds - 30));
    const specs: Record<FunctionKey, FunctionSpec> = {
      profiles: {
        entry: 'profiles.ts',
        description: 'PUT/GET/DELETE /profiles/{id}, GET /profiles, POST /profiles/{id}/refresh',
        memorySize: 512,
        // Discovery, a refresh or a revocation: a few bounded calls to the authorization server.
        timeout: Duration.seconds(25),
      },
      authorizeUrl: {
        entry: 'authorize-url.ts',
        description: 'GET /profiles/{id}/authorize-url',
        memorySize: 256,
        timeout: Duration.seconds(10),
      },
      callback: {
        entry: 'callback.ts',
        description: 'GET /callback (public): completes an authorization',
        memorySize: 512,
        timeout: Duration.seconds(20),
      },
      token: {
        entry: 'token.ts',
        description: 'GET /profiles/{id}/token: the consumers\' token endpoint',
        memorySize: 512,
        // The slowest path waits up to 10 s for another instance's refresh, then refreshes itself: discovery
        // (up to 10 s) and the token endpoint (10 s). That can outlast API Gateway's integration limit of
        // 29 s, so the function gets exactly that: the gateway gives up no later than the function (whose
        // clock starts after the gateway's) and answers 503 temporarily_unavailable (IntegrationTimeout in
        // addGatewayResponses), rather than the 5xx of a function that timed out.
        timeout: Duration.seconds(API_INTEGRATION_TIMEOUT_SECONDS),
      },
      refresh: {
        entry: 'refresh.ts',
        description: `Scheduled refresh of the profiles that are due (every ${settings.refreshIntervalMinutes} min)`,
        memorySize: 512,
        timeout: Duration.seconds(refreshTimeoutSeconds),
        // One run at a time: the lease already keeps profiles safe; this keeps overlapping runs from
        // multiplying the Secrets Manager write rate (DESIGN.md "Scale and cost").
        reservedConcurrentExecutions: 1,
      },
    };

    const functions = {} as Record<FunctionKey, NodejsFunction>;
    for (const [key, spec] of Object.entries(specs) as [FunctionKey, FunctionSpec][]) {
      functions[key] = this.createFunction(key, spec, environment);
    }
    this.functions = functions;

    const refresh = functions.refresh;
    refresh.configureAsyncInvoke({
      // A failed run is retried by the next scheduled run; an event older than one interval is stale.
      retryAttempts: 0,
      maxEventAge: Duration.seconds(Math.max(60, refreshIntervalSeconds)),
      onFailure: new lambdaDestinations.SqsDestination(this.refreshFailures),
    });

    // ---------------------------------------------------------------------------------------------
    // Routes
    // ---------------------------------------------------------------------------------------------
    const validator = this.api.addRequestValidator('RequestValidator', {
      requestValidatorName: 'body-and-parameters',
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const profileModel = this.api.addModel('ProfileInput', {
      contentType: 'application/json',
      modelName: 'ProfileInput',
      description: 'PUT /profiles/{id} body (API.md); the function checks the rest (URLs, reserved parameters, combinations)',
      schema: profileInputSchema(),
    });
    addGatewayResponses(this.api);

    const integration = (key: FunctionKey) =>
      new apigw.LambdaIntegration(functions[key], { proxy: true, allowTestInvoke: false });
    const withId = { 'method.request.path.id': true };
    const options = (requestParameters: Record<string, boolean> = {}): apigw.MethodOptions => ({
      requestValidator: validator,
      requestParameters,
    });

    const profiles = this.api.root.addResource('profiles');
    profiles.addMethod('GET', integration('profiles'), options());
    const profile = profiles.addResource('{id}');
    profile.addMethod('PUT', integration('profiles'), {
      ...options(withId),
      requestModels: { 'application/json': profileModel },
    });
    profile.addMethod('GET', integration('profiles'), options(withId));
    profile.addMethod('DELETE', integration('profiles'), options(withId));
    profile.addResource('refresh').addMethod('POST', integration('profiles'), options(withId));
    profile.addResource('authorize-url').addMethod('GET', integration('authorizeUrl'), options(withId));
    profile
      .addResource('token')
      .addMethod('GET', integration('token'), options({ ...withId, 'method.request.querystring.minValiditySeconds': false }));
    const callbackMethod = this.api.root
      .addResource('callback')
      // No required parameters: an authorization server's error redirect has no `code`, and every
      // answer of the callback must be its HTML page (API.md), never API Gateway's JSON.
      .addMethod('GET', integration('callback'), { requestValidator: validator, authorizationType: apigw.AuthorizationType.NONE });

    acknowledge(
      callbackMethod,
      'AwsSolutions-APIG4',
      'GET /callback is the OAuth redirect URI: the authorization server sends the administrator\'s browser here, which cannot sign requests. It acts only on an unguessable, single-use, 10-minute state bound to a PKCE verifier, and is throttled separately.',
    );
    acknowledge(
      this.api,
      'AwsSolutions-COG4',
      'Callers are AWS workloads and administrators with IAM identities: every route except the OAuth callback uses AWS_IAM (SigV4) authorization, so no Cognito user pool is involved; the callback cannot carry any authorization (see APIG4).',
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
        'No WAF web ACL is configured for this environment: every route but the callback requires SigV4, the callback needs a valid single-use state, and the stage and callback are throttled. Set webAclArn in cdk/environments.ts to associate one.',
      );
    }

    if (settings.customDomain) {
      const { domainName, certificateArn, hostedZone } = settings.customDomain;
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

    // ---------------------------------------------------------------------------------------------
    // The refresh schedule
    // ---------------------------------------------------------------------------------------------
    const schedule = new events.Rule(this, 'RefreshSchedule', {
      description: `Runs the oauth-broker ${settings.name} refresh job every ${settings.refreshIntervalMinutes} min`,
      schedule: events.Schedule.rate(Duration.minutes(settings.refreshIntervalMinutes)),
    });
    schedule.addTarget(
      new eventTargets.LambdaFunction(refresh, {
        retryAttempts: 2,
        maxEventAge: Duration.seconds(Math.max(60, refreshIntervalSeconds)),
        deadLetterQueue: this.refreshFailures,
      }),
    );

    // ---------------------------------------------------------------------------------------------
    // Alarms and status notifications
    // ---------------------------------------------------------------------------------------------
    this.createAlarms(refresh);

    // ---------------------------------------------------------------------------------------------
    // Consumer access and outputs
    // ---------------------------------------------------------------------------------------------
    const anyProfileToken = this.tokenRouteArn('*');
    this.consumerPolicy = new iam.ManagedPolicy(this, 'TokenConsumerPolicy', {
      description: `Lets a workload fetch access tokens from oauth-broker ${settings.name} (GET /profiles/*/token, any profile)`,
      statements: [
        new iam.PolicyStatement({
          sid: 'FetchBrokeredTokens',
          actions: ['execute-api:Invoke'],
          resources: [anyProfileToken],
        }),
      ],
    });
    acknowledge(
      this.consumerPolicy,
      'AwsSolutions-IAM5',
      'The wildcard is the profile id of GET /profiles/{id}/token: this policy is the "any profile" consumer grant. docs/deploy.md shows the per-profile grant (…/GET/profiles/<id>/token) for roles that should reach one profile only.',
      [resourceFinding(this, anyProfileToken)],
    );

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the API (sign requests with SigV4, service execute-api)' });
    new CfnOutput(this, 'CallbackUrl', { value: this.callbackUrl, description: 'Register this redirect URI at each authorization server' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'ConsumerPolicyArn', {
      value: this.consumerPolicy.managedPolicyArn,
      description: 'Managed policy: GET /profiles/*/token on this API (attach to consumer roles)',
    });
    new CfnOutput(this, 'TokenRouteArnPattern', {
      value: this.tokenRouteArn('<profileId>'),
      description: 'execute-api ARN of one profile\'s token route: replace <profileId> to grant one profile only',
    });
    new CfnOutput(this, 'RestApiId', { value: restApiId });
    new CfnOutput(this, 'SecretsKeyArn', { value: this.secretsKey.keyArn });
    new CfnOutput(this, 'SecretNamePrefix', { value: `${secretPrefix}/` });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
  }

  /** The execute-api ARN of `GET /profiles/<profileId>/token` on this stage. */
  tokenRouteArn(profileId: string): string {
    return `arn:${Aws.PARTITION}:execute-api:${Aws.REGION}:${Aws.ACCOUNT_ID}:${this.api.restApiId}/${this.settings.name}/GET/profiles/${profileId}/token`;
  }

  /**
   * The ARN pattern of one kind of secret of every profile (the reasons are in cdk/permissions.ts):
   * - `existing` (default): an existing secret's ARN, the name plus `-` and six random characters (`-??????`);
   * - `missing`: the name alone, which IAM evaluates for a request naming a secret that does not exist;
   * - `create`: for `CreateSecret` (and the `TagResource` it implies), which runs before the suffix exists
   *   (`*`).
   */
  secretArnPattern(kind: 'client-secret' | 'token-set', form: 'existing' | 'missing' | 'create' = 'existing'): string {
    const prefix = `${this.settings.secretPrefix}/${this.settings.name}`;
    const suffix = { existing: '-??????', missing: '', create: '*' }[form];
    return `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${prefix}/*/${kind}${suffix}`;
  }

  private createFunction(key: FunctionKey, spec: FunctionSpec, environment: Record<string, string>): NodejsFunction {
    const { settings } = this;
    const id = key.charAt(0).toUpperCase() + key.slice(1);
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: settings.logRetention,
      removalPolicy: settings.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    // An own role instead of the default one: no AWSLambdaBasicExecutionRole (logs:* on every log group),
    // only writes to this function's log group plus the grants of FUNCTION_GRANTS.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `oauth-broker ${settings.name}: ${key} function`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    this.grant(role, key);

    return new NodejsFunction(this, id, {
      entry: path.join(PROJECT_ROOT, 'lambdas', spec.entry),
      handler: 'handler',
      description: `oauth-broker ${settings.name}: ${spec.description}`,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: spec.memorySize,
      timeout: spec.timeout,
      ...(spec.reservedConcurrentExecutions !== undefined ? { reservedConcurrentExecutions: spec.reservedConcurrentExecutions } : {}),
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel[settings.logLevel],
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      environment,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        // Bundle the AWS SDK too: the versions the tests ran with, not whatever the runtime ships.
        bundleAwsSDK: true,
        tsconfig: path.join(PROJECT_ROOT, 'tsconfig.json'),
        forceDockerBundling: false,
      },
    });
  }

  /** Adds FUNCTION_GRANTS[key] to `role`, and acknowledges the secret-name wildcards it needs. */
  private grant(role: iam.Role, key: FunctionKey): void {
    const grants = FUNCTION_GRANTS[key];
    const tableArn = this.table.tableArn;
    if (grants.table.length > 0) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'Table',
          actions: grants.table.map((a) => `dynamodb:${a}`),
          resources: [tableArn],
        }),
      );
    }
    if (grants.queryIndexes.length > 0) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'QueryIndexes',
          actions: ['dynamodb:Query'],
          resources: grants.queryIndexes.map((index) => `${tableArn}/index/${TABLE_SCHEMA.indexes[index].indexName}`),
        }),
      );
    }

    const secretResources: string[] = [];
    for (const [kind, actions] of [
      ['client-secret', grants.clientSecret],
      ['token-set', grants.tokenSet],
    ] as const) {
      const plain = actions.filter((a) => a !== 'CreateSecret' && a !== 'TagResource');
      const tagging = actions.filter((a) => a === 'CreateSecret' || a === 'TagResource');
      const sidKind = kind === 'client-secret' ? 'ClientSecret' : 'TokenSet';
      if (plain.length > 0) {
        // The existing secret, and the suffix-less name, so that a missing secret is ResourceNotFound
        // rather than AccessDenied (cdk/permissions.ts).
        const arns = [this.secretArnPattern(kind, 'existing'), this.secretArnPattern(kind, 'missing')];
        secretResources.push(...arns);
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({ sid: sidKind, actions: plain.map((a) => `secretsmanager:${a}`), resources: arns }),
        );
      }
      if (tagging.length > 0) {
        const arn = this.secretArnPattern(kind, 'create');
        secretResources.push(arn);
        // Secrets are created tagged with the profile id, and with no other tag.
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            sid: `Create${sidKind}`,
            actions: tagging.map((a) => `secretsmanager:${a}`),
            resources: [arn],
            conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [PROFILE_ID_TAG] } },
          }),
        );
      }
    }
    if (secretResources.length > 0) {
      const prefix = `${this.settings.secretPrefix}/${this.settings.name}`;
      const via = { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` };
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'SecretsKeyThroughSecretsManager',
          actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
          resources: [this.secretsKey.keyArn],
          conditions: {
            StringEquals: via,
            // Secrets Manager passes the secret's ARN as encryption context: only secrets under the prefix.
            StringLike: {
              'kms:EncryptionContext:SecretARN': `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${prefix}/*`,
            },
          },
        }),
      );
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'DescribeSecretsKey',
          actions: ['kms:DescribeKey'],
          resources: [this.secretsKey.keyArn],
          conditions: { StringEquals: via },
        }),
      );
      acknowledge(
        role,
        'AwsSolutions-IAM5',
        'Secrets are created at run time, one pair per profile: the wildcards are the profile id and the 6-character suffix Secrets Manager appends to every secret ARN (for CreateSecret, which runs before that suffix exists, any suffix). The same actions on the suffix-less name match no existing secret; they make a request for a secret that does not exist yet answer ResourceNotFound instead of AccessDenied (see cdk/permissions.ts). They stay inside this environment\'s prefix and one secret kind; the actions are only those this function calls.',
        secretResources.map((arn) => resourceFinding(this, arn)),
      );
    }

    if (grants.putEvents) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'PublishStatusChanges',
          actions: ['events:PutEvents'],
          resources: [`arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:event-bus/default`],
          conditions: { StringEquals: { 'events:source': EVENT_SOURCE } },
        }),
      );
    }
  }

  private createAlarms(refresh: NodejsFunction): void {
    const { settings } = this;
    const action = new cwActions.SnsAction(this.alarmTopic);
    const fiveMinutes = Duration.minutes(5);
    const alarm = (id: string, props: cloudwatch.AlarmProps) => {
      const a = new cloudwatch.Alarm(this, id, {
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...props,
      });
      a.addAlarmAction(action);
      a.addOkAction(action);
      return a;
    };

    // Status changes (lifecycle issue: source oauth-broker, detail-type "Profile Status Changed", detail
    // {profileId, from, to, lastError}). Each rule also sends the change itself to the topic, so that the
    // message names the profile. Events of another environment in the same account are told apart by
    // `detail.environment` when the runtime sets it.
    const statusRule = (id: string, states: string[], description: string) => {
      const rule = new events.Rule(this, id, {
        description,
        eventPattern: {
          source: [EVENT_SOURCE],
          detailType: [STATUS_CHANGED_DETAIL_TYPE],
          detail: {
            to: states,
            $or: [{ environment: [settings.name] }, { environment: [{ exists: false }] }],
          },
        },
      });
      rule.addTarget(
        new eventTargets.SnsTopic(this.alarmTopic, {
          message: events.RuleTargetInput.fromText(
            `oauth-broker ${settings.name}: profile ${events.EventField.fromPath('$.detail.profileId')} went from ` +
              `${events.EventField.fromPath('$.detail.from')} to ${events.EventField.fromPath('$.detail.to')}.`,
          ),
        }),
      );
      return new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'TriggeredRules',
        dimensionsMap: { RuleName: rule.ruleName },
        statistic: cloudwatch.Stats.SUM,
        period: fiveMinutes,
      });
    };
    const attention = statusRule(
      'ProfilesNeedAttentionRule',
      ['authorization_required', 'error'],
      `oauth-broker ${settings.name}: a profile needs a person (re-authorization, or a client the server refused)`,
    );
    const failing = statusRule(
      'RefreshFailingRule',
      ['refresh_failing', 'expired'],
      `oauth-broker ${settings.name}: refreshing a profile failed for a passing reason`,
    );

    alarm('ProfilesNeedAuthorizationAlarm', {
      alarmDescription: `oauth-broker ${settings.name}: a profile needs authorization (invalid_grant: open a new authorization URL) or was refused as a client (fix the profile).`,
      metric: attention,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm('RefreshFailuresAlarm', {
      alarmDescription: `oauth-broker ${settings.name}: refreshes are failing (network, 5xx or 429 from an authorization server); retries go on with backoff.`,
      metric: failing,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm('RefreshFunctionErrorsAlarm', {
      alarmDescription: `oauth-broker ${settings.name}: the scheduled refresh run failed (see its logs and the RefreshFailures queue).`,
      metric: refresh.metricErrors({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm('RefreshFailureQueueAlarm', {
      alarmDescription: `oauth-broker ${settings.name}: scheduled refresh events could not be delivered or processed (messages in the RefreshFailures queue).`,
      metric: this.refreshFailures.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm('Api5xxAlarm', {
      alarmDescription: `oauth-broker ${settings.name}: the API answered 5xx (internal errors, or tokens temporarily unavailable).`,
      metric: this.api.metricServerError({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
      threshold: 5,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }
}

/**
 * With `allowedPrincipals`: only those principals may call the IAM-authorized routes, whatever their IAM
 * policies say (an explicit Deny wins), while the callback stays open to browsers.
 *
 * The Allow for listed principals applies to other accounts only: a cross-account SigV4 call needs the
 * resource policy to allow it (and the caller's own IAM policy, which still decides the routes). Within
 * this account, the caller's IAM policy alone grants access, so listing a principal here gives it nothing
 * it does not already have: a consumer limited to one profile's token stays limited to it.
 */
function apiResourcePolicy(allowedPrincipals: readonly string[]): iam.PolicyDocument {
  const principals = [...allowedPrincipals];
  const iamRoutes = ['execute-api:/*/*/profiles', 'execute-api:/*/*/profiles/*'];
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'PublicCallback',
        principals: [new iam.AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: ['execute-api:/*/GET/callback'],
      }),
      new iam.PolicyStatement({
        sid: 'ListedPrincipalsOfOtherAccounts',
        principals: [new iam.AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: iamRoutes,
        conditions: {
          StringLike: { 'aws:PrincipalArn': principals },
          StringNotEquals: { 'aws:PrincipalAccount': Aws.ACCOUNT_ID },
        },
      }),
      new iam.PolicyStatement({
        sid: 'DenyUnlistedPrincipals',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: iamRoutes,
        conditions: { StringNotLike: { 'aws:PrincipalArn': principals } },
      }),
    ],
  });
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
    },
  };
}

/** The `error` code of API Gateway's own 403s (signature or IAM refusals): an addition to API.md's codes. */
export const GATEWAY_FORBIDDEN_CODE = 'forbidden';

/**
 * Answers API Gateway itself produces, in the contract's error shape `{"error","message"}` (API.md), each
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
 * (500), or when a WAF web ACL blocks the request (403). API.md's "HTML only" holds for every answer of the
 * callback function itself, not for these.
 */
function addGatewayResponses(api: apigw.RestApi): void {
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
  const noSuchRoute = json('not_found', 'No such route. (Every route except GET /callback must also be signed with SigV4.)');
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
