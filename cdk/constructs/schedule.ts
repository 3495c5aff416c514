/**
 * The refresh schedule: an EventBridge rule that runs the refresh function every interval, with the
 * failure queue as the dead-letter destination of both the rule's target and the function's async
 * invocations.
 */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaDestinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EnvironmentSettings } from '../environments.js';
import { acknowledge } from '../nag.js';

export interface RefreshScheduleProps {
  readonly settings: EnvironmentSettings;
  readonly refresh: lambda.Function;
}

export class RefreshSchedule extends Construct {
  readonly rule: events.Rule;
  /** Scheduled events that could not be delivered or processed. */
  readonly failures: sqs.Queue;

  constructor(scope: Construct, id: string, { settings, refresh }: RefreshScheduleProps) {
    super(scope, id);
    const intervalSeconds = settings.refreshIntervalMinutes * 60;
    // An event older than one interval is stale: the next run does its work.
    const maxEventAge = Duration.seconds(Math.max(60, intervalSeconds));
    this.failures = new sqs.Queue(this, 'Failures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(
      this.failures,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter destination of the refresh function and of its schedule target; a queue behind it would only move the same messages again.',
    );
    refresh.configureAsyncInvoke({
      // A failed run is retried by the next scheduled run.
      retryAttempts: 0,
      maxEventAge,
      onFailure: new lambdaDestinations.SqsDestination(this.failures),
    });
    this.rule = new events.Rule(this, 'Rule', {
      description: `Runs the oauth-broker ${settings.name} refresh job every ${settings.refreshIntervalMinutes} min`,
      schedule: events.Schedule.rate(Duration.minutes(settings.refreshIntervalMinutes)),
    });
    this.rule.addTarget(new eventTargets.LambdaFunction(refresh, { retryAttempts: 2, maxEventAge, deadLetterQueue: this.failures }));
  }
}
