/**
 * The broker's Lambda functions: one per entry of lib/functions.ts, each with its own log group and its
 * own role holding exactly the statements its code's AWS calls need (cdk/permissions.ts), registered as a
 * user of the secrets key when it touches secrets.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { FUNCTIONS, functionKeys, type FunctionKey, type FunctionSpec } from '../../lib/functions.js';
import type { EnvironmentSettings } from '../environments.js';
import { acknowledge, resourceFinding } from '../nag.js';
import { functionStatements, usesSecrets } from '../permissions.js';
import type { BrokerData } from './data.js';
import type { BrokerSigningKeys } from './signing-keys.js';

/** The repository root: `lambdas/`, `package-lock.json` and `tsconfig.json` live there. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const SERVICE_NAME = 'oauth-broker';
export const METRICS_NAMESPACE = 'OAuthBroker';

/** API Gateway's default (and, for REST APIs, usual maximum) integration timeout. */
export const API_INTEGRATION_TIMEOUT_SECONDS = 29;

/** The esbuild banner that gives an ESM bundle a CommonJS `require` for dependencies that still call it. */
export const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

export interface BrokerFunctionsProps {
  readonly settings: EnvironmentSettings;
  readonly data: BrokerData;
  /** The public callback URL the functions send to authorization servers. */
  readonly callbackUrl: string;
  /** The KMS keys of `private_key_jwt`, in every function's `BROKER_SIGNING_KEYS`. */
  readonly signingKeys: BrokerSigningKeys;
}

/** `profiles` → `Profiles`: the construct id of a function (and the prefix of its role's and log group's). */
export const functionId = (key: FunctionKey): string => key.charAt(0).toUpperCase() + key.slice(1);

export class BrokerFunctions extends Construct {
  readonly functions: Record<FunctionKey, NodejsFunction>;
  readonly roles: Record<FunctionKey, iam.Role>;

  constructor(scope: Construct, id: string, props: BrokerFunctionsProps) {
    super(scope, id);
    const { settings, data } = props;
    const refreshIntervalSeconds = settings.refreshIntervalMinutes * 60;
    const environment: Record<string, string> = {
      BROKER_ENVIRONMENT: settings.name,
      BROKER_TABLE_NAME: data.table.tableName,
      BROKER_SECRET_PREFIX: data.secretPrefix,
      BROKER_KMS_KEY_ID: data.secretsKey.keyArn,
      BROKER_CALLBACK_URL: props.callbackUrl,
      BROKER_EVENT_BUS_NAME: 'default',
      BROKER_REFRESH_INTERVAL_SECONDS: String(refreshIntervalSeconds),
      BROKER_REFRESH_MARGIN_SECONDS: String(settings.refreshMarginSeconds),
      BROKER_SIGNING_KEYS: props.signingKeys.environmentValue,
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_LOG_LEVEL: settings.logLevel,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      NODE_OPTIONS: '--enable-source-maps',
    };
    this.functions = {} as Record<FunctionKey, NodejsFunction>;
    this.roles = {} as Record<FunctionKey, iam.Role>;
    for (const key of functionKeys()) {
      const { fn, role } = this.#createFunction(key, FUNCTIONS[key], settings, data, props.signingKeys, environment);
      this.functions[key] = fn;
      this.roles[key] = role;
    }
  }

  /** The function's time limit: the spec's seconds, API Gateway's limit, or ending before the next scheduled run. */
  static timeout(spec: FunctionSpec, settings: EnvironmentSettings): Duration {
    if (spec.timeout === 'api') return Duration.seconds(API_INTEGRATION_TIMEOUT_SECONDS);
    // Each run must end well before the next one starts (reserved concurrency 1 would throttle it).
    if (spec.timeout === 'schedule') return Duration.seconds(Math.max(30, Math.min(900, settings.refreshIntervalMinutes * 60 - 30)));
    return Duration.seconds(spec.timeout);
  }

  #createFunction(
    key: FunctionKey,
    spec: FunctionSpec,
    settings: EnvironmentSettings,
    data: BrokerData,
    signingKeys: BrokerSigningKeys,
    environment: Record<string, string>,
  ): { fn: NodejsFunction; role: iam.Role } {
    const id = functionId(key);
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: settings.logRetention,
      removalPolicy: settings.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    // An own role instead of the default one: no AWSLambdaBasicExecutionRole (logs:* on every log group),
    // only writes to this function's log group plus the statements its calls need.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `oauth-broker ${settings.name}: ${key} function`,
    });
    logGroup.grantWrite(role);
    const { statements, secretPatterns } = functionStatements(key, { data, signingKeys: signingKeys.keys });
    for (const statement of statements) role.addToPrincipalPolicy(statement);
    if (usesSecrets(key)) data.addSecretsKeyUser(role);
    signingKeys.addUser(role, spec.calls.signingKeys ?? []);
    if (secretPatterns.length > 0) {
      acknowledge(
        role,
        'AwsSolutions-IAM5',
        'Secrets are created at run time, one pair per profile: the wildcards are the profile id and the 6-character suffix Secrets Manager appends to every secret ARN (for CreateSecret, which runs before that suffix exists, any suffix). The same actions on the suffix-less name match no existing secret; they make a request for a secret that does not exist yet answer ResourceNotFound instead of AccessDenied (see cdk/permissions.ts). They stay inside this environment\'s prefix and one secret kind; the actions are only those this function\'s code sends (lib/functions.ts).',
        secretPatterns.map((arn) => resourceFinding(this, arn)),
      );
    }

    const fn = new NodejsFunction(this, id, {
      entry: path.join(PROJECT_ROOT, 'lambdas', spec.entry),
      handler: 'handler',
      description: `oauth-broker ${settings.name}: ${spec.description}`,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: spec.memorySize,
      timeout: BrokerFunctions.timeout(spec, settings),
      ...(spec.reservedConcurrency !== undefined ? { reservedConcurrentExecutions: spec.reservedConcurrency } : {}),
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
    return { fn, role };
  }
}
