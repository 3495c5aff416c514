/**
 * Monitoring: the encrypted alarm topic (with the subscription of the environment's e-mail address), the
 * rules that forward the broker's status-change events to it, and the alarms on those events, the refresh
 * job, its failure queue and the API's 5xx answers.
 *
 * Who may publish to the topic: CloudWatch alarms of this account (`aws:SourceAccount`, `aws:SourceArn`),
 * and the status rules through an IAM role of their own (no service-principal grant to EventBridge, which
 * any rule of any account could use).
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENT_SOURCE, STATUS_CHANGED_DETAIL_TYPE } from '../../lib/event-names.js';
import type { EnvironmentSettings } from '../environments.js';
import { acknowledge } from '../nag.js';

export interface BrokerMonitoringProps {
  readonly settings: EnvironmentSettings;
  readonly refresh: lambda.IFunction;
  readonly refreshFailures: sqs.IQueue;
  readonly api: apigw.RestApi;
}

export class BrokerMonitoring extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly #settings: EnvironmentSettings;

  constructor(scope: Construct, id: string, props: BrokerMonitoringProps) {
    super(scope, id);
    const { settings } = props;
    this.#settings = settings;
    const stack = Stack.of(this);
    const alarmsOfThisAccount = {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
    };
    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: `oauth-broker ${settings.name}: encrypts the alarm topic`,
      enableKeyRotation: true,
      removalPolicy: settings.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    // CloudWatch encrypts its alarm messages through SNS with the topic's key (AWS documents no
    // source conditions for this call; the topic policy below decides who may publish).
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsEncryptForTheTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `oauth-broker ${settings.name} alarms`,
      masterKey: topicKey,
      enforceSSL: true,
    });
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccount',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: alarmsOfThisAccount,
      }),
    );
    if (settings.alarmEmail) this.alarmTopic.addSubscription(new snsSubscriptions.EmailSubscription(settings.alarmEmail));
    this.#createAlarms(props);
  }

  #alarm(id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const action = new cwActions.SnsAction(this.alarmTopic);
    const alarm = new cloudwatch.Alarm(this, id, { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, ...props });
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.push(alarm);
    return alarm;
  }

  /**
   * Status changes (source `oauth-broker`, detail-type `Profile Status Changed`, detail {profileId, from, to,
   * lastError}). The rule also sends the change itself to the topic, so that the message names the profile.
   * Events of another environment in the same account are told apart by `detail.environment`.
   */
  #statusRule(id: string, states: string[], description: string): cloudwatch.Metric {
    const settings = this.#settings;
    const rule = new events.Rule(this, id, {
      description,
      eventPattern: {
        source: [EVENT_SOURCE],
        detailType: [STATUS_CHANGED_DETAIL_TYPE],
        detail: { to: states, $or: [{ environment: [settings.name] }, { environment: [{ exists: false }] }] },
      },
    });
    rule.addTarget(
      new eventTargets.SnsTopic(this.alarmTopic, {
        // A role of the rule, granted publish (and the topic key) through the topic's L2 grant.
        authorizeUsingRole: true,
        message: events.RuleTargetInput.fromText(
          `oauth-broker ${settings.name}: profile ${events.EventField.fromPath('$.detail.profileId')} went from ` +
            `${events.EventField.fromPath('$.detail.from')} to ${events.EventField.fromPath('$.detail.to')}.`,
        ),
      }),
    );
    const role = rule.node.tryFindChild('EventsRole');
    if (role) {
      acknowledge(
        role,
        'AwsSolutions-IAM5',
        'The SNS topic\'s L2 grant (Topic.grantPublish) gives the rule\'s role kms:GenerateDataKey* on the topic\'s own key only: SNS asks for a data key of the variant it needs to encrypt the message.',
        ['Action::kms:GenerateDataKey*'],
      );
    }
    return new cloudwatch.Metric({
      namespace: 'AWS/Events',
      metricName: 'TriggeredRules',
      dimensionsMap: { RuleName: rule.ruleName },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
    });
  }

  #createAlarms({ settings, refresh, refreshFailures, api }: BrokerMonitoringProps): void {
    const fiveMinutes = Duration.minutes(5);
    const atLeast = (threshold: number) => ({
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    const attention = this.#statusRule(
      'ProfilesNeedAttentionRule',
      ['authorization_required', 'error'],
      `oauth-broker ${settings.name}: a profile needs a person (re-authorization, or a client the server refused)`,
    );
    const failing = this.#statusRule(
      'RefreshFailingRule',
      ['refresh_failing', 'expired'],
      `oauth-broker ${settings.name}: refreshing a profile failed for a passing reason`,
    );
    this.#alarm('ProfilesNeedAuthorizationAlarm', {
      alarmDescription: `oauth-broker ${settings.name}: a profile needs authorization (invalid_grant: open a new authorization URL) or was refused as a client (fix the profile).`,
      metric: attention,
      ...atLeast(1),
    });
    this.#alarm('RefreshFailuresAlarm', {
      alarmDescription: `oauth-broker ${settings.name}: refreshes are failing (network, 5xx or 429 from an authorization server); retries go on with backoff.`,
      metric: failing,
      ...atLeast(1),
    });
    this.#alarm('RefreshFunctionErrorsAlarm', {
      alarmDescription: `oauth-broker ${settings.name}: the scheduled refresh run failed (see its logs and the RefreshFailures queue).`,
      metric: refresh.metricErrors({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
      ...atLeast(1),
    });
    this.#alarm('RefreshFailureQueueAlarm', {
      alarmDescription: `oauth-broker ${settings.name}: scheduled refresh events could not be delivered or processed (messages in the RefreshFailures queue).`,
      metric: refreshFailures.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM }),
      ...atLeast(1),
    });
    this.#alarm('Api5xxAlarm', {
      alarmDescription: `oauth-broker ${settings.name}: the API answered 5xx (internal errors, or tokens temporarily unavailable).`,
      metric: api.metricServerError({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
      ...atLeast(5),
    });
  }
}
