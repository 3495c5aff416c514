/**
 * One environment of the broker (docs/design.md "Shape"), composed of one construct per concern:
 * data (table, secrets key), functions (one per entry of lib/functions.ts, each with its own role), the
 * REST API (one method per route of lib/routes.ts), the refresh schedule and monitoring; plus the
 * consumers' managed policy and the outputs `oauth-broker doctor` reads. Its parts are reached through
 * the construct that owns them (`stack.data.table`, `stack.brokerFunctions.functions.token`, …).
 *
 * Every ARN is built from the stack's own partition, region and account (`Stack.formatArn` and
 * `this.region`), so a stack pinned to a region names it everywhere and an environment-agnostic one uses
 * `AWS::Region` everywhere.
 *
 * Logical IDs are those of the stack before the constructs split (cdk/legacy-ids.ts), so that an
 * environment deployed then upgrades in place: same table, secrets key, API id and callback URL.
 */
import { CfnOutput, Stack, Tags, type CfnElement, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { BrokerApi } from './constructs/api.js';
import { BrokerData } from './constructs/data.js';
import { BrokerFunctions, SERVICE_NAME } from './constructs/functions.js';
import { BrokerSigningKeys } from './constructs/signing-keys.js';
import { BrokerMonitoring } from './constructs/monitoring.js';
import { RefreshSchedule } from './constructs/schedule.js';
import type { EnvironmentSettings } from './environments.js';
import { STACK_OUTPUTS, type StackOutput } from '../lib/stack-outputs.js';
import { legacyLogicalId } from './legacy-ids.js';
import { acknowledge, resourceFinding } from './nag.js';

export { API_INTEGRATION_TIMEOUT_SECONDS, ESM_REQUIRE_BANNER, METRICS_NAMESPACE, PROJECT_ROOT, SERVICE_NAME } from './constructs/functions.js';
export { GATEWAY_FORBIDDEN_CODE } from './constructs/api.js';

export interface BrokerStackProps extends StackProps {
  readonly settings: EnvironmentSettings;
}

export class BrokerStack extends Stack {
  readonly settings: EnvironmentSettings;
  readonly data: BrokerData;
  readonly signingKeys: BrokerSigningKeys;
  readonly brokerApi: BrokerApi;
  readonly brokerFunctions: BrokerFunctions;
  readonly schedule: RefreshSchedule;
  readonly monitoring: BrokerMonitoring;
  readonly consumerPolicy: iam.ManagedPolicy;

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

    this.data = new BrokerData(this, 'Data', { settings });
    // The API before the functions: they need its id for the callback URL; its methods come after them.
    this.brokerApi = new BrokerApi(this, 'Api', { settings });
    this.signingKeys = new BrokerSigningKeys(this, 'SigningKeys', { settings });
    this.brokerFunctions = new BrokerFunctions(this, 'Functions', {
      settings,
      data: this.data,
      callbackUrl: this.brokerApi.callbackUrl,
      signingKeys: this.signingKeys,
    });
    this.brokerApi.addRoutes(this.brokerFunctions.functions);
    this.schedule = new RefreshSchedule(this, 'Schedule', { settings, refresh: this.brokerFunctions.functions.refresh });
    this.monitoring = new BrokerMonitoring(this, 'Monitoring', {
      settings,
      refresh: this.brokerFunctions.functions.refresh,
      refreshFailures: this.schedule.failures,
      api: this.brokerApi.api,
    });

    const anyProfileToken = this.brokerApi.tokenRouteArn('*');
    this.consumerPolicy = new iam.ManagedPolicy(this, 'TokenConsumerPolicy', {
      description: `Lets a workload fetch access tokens from oauth-broker ${settings.name} (GET /profiles/*/token, any profile)`,
      statements: [new iam.PolicyStatement({ sid: 'FetchBrokeredTokens', actions: ['execute-api:Invoke'], resources: [anyProfileToken] })],
    });
    acknowledge(
      this.consumerPolicy,
      'AwsSolutions-IAM5',
      'The wildcard is the profile id of GET /profiles/{id}/token: this policy is the "any profile" consumer grant. `oauth-broker policy` prints the per-profile grant (…/GET/profiles/<id>/token) for roles that should reach one profile only.',
      [resourceFinding(this, anyProfileToken)],
    );
    this.#outputs();
  }

  /** The ID each resource had before the constructs split (cdk/legacy-ids.ts says why). */
  protected override allocateLogicalId(element: CfnElement): string {
    return legacyLogicalId(this, element);
  }

  #outputs(): void {
    const out = (key: StackOutput, value: string, description?: string) =>
      new CfnOutput(this, STACK_OUTPUTS[key], { value, ...(description ? { description } : {}) });
    out('apiUrl', this.brokerApi.api.url, 'Base URL of the API (sign requests with SigV4, service execute-api)');
    out('callbackUrl', this.brokerApi.callbackUrl, 'Register this redirect URI at each authorization server');
    out('tableName', this.data.table.tableName);
    out('consumerPolicyArn', this.consumerPolicy.managedPolicyArn, 'Managed policy: GET /profiles/*/token on this API (attach to consumer roles)');
    out('tokenRouteArnPattern', this.brokerApi.tokenRouteArn('<profileId>'), 'execute-api ARN of one profile\'s token route: replace <profileId> to grant one profile only');
    out('restApiId', this.brokerApi.api.restApiId);
    out('secretsKeyArn', this.data.secretsKey.keyArn);
    out('secretNamePrefix', `${this.data.secretPrefix}/`);
    out('signingKeys', this.signingKeys.environmentValue || 'none', 'The private_key_jwt signing keys (BROKER_SIGNING_KEYS): <alg>=<KMS key ARN>, comma-separated');
    out('alarmTopicArn', this.monitoring.alarmTopic.topicArn);
    out('refreshScheduleRuleName', this.schedule.rule.ruleName, 'The EventBridge rule that runs the refresh job');
    out(
      'functionRoleArns',
      // `key=arn` pairs, comma-separated: `oauth-broker doctor` simulates each role's calls.
      Object.entries(this.brokerFunctions.roles)
        .map(([key, role]) => `${key}=${role.roleArn}`)
        .join(','),
      'The IAM role of each function (key=ARN, comma-separated), for oauth-broker doctor',
    );
  }
}
