/**
 * cdk/constructs/monitoring.ts: alarms and status-change rules into an encrypted topic that CloudWatch of
 * this account may publish to (the policy engine evaluates that in test/cdk/policies.test.ts).
 */
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { BrokerMonitoring } from '../../../cdk/constructs/monitoring.js';
import { environments } from '../../../cdk/environments.js';
import { type Cfn, logicalId, resources, synthesized, focusedStack } from '../support.js';

describe('BrokerMonitoring on its own', () => {
  it('sends every alarm, and every status rule, to its topic; CloudWatch of the stack\'s account may publish', () => {
    // Prepare
    const stack = focusedStack({ env: { account: '111122223333', region: 'eu-west-1' } });
    const refresh = new lambda.Function(stack, 'Job', { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('export const handler = 1;') });
    const api = new apigw.RestApi(stack, 'Api');
    api.root.addMethod('GET');

    // Act
    const monitoring = new BrokerMonitoring(stack, 'Monitoring', { settings: environments.dev, refresh, refreshFailures: new sqs.Queue(stack, 'Failures'), api });
    const template = Template.fromStack(stack);

    // Assess
    expect(monitoring.alarms).toHaveLength(5);
    const topic = stack.resolve(monitoring.alarmTopic.topicArn);
    for (const alarm of Object.values(resources(template, 'AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties!.AlarmActions).toEqual([topic]);
      expect(alarm.Properties!.OKActions).toEqual([topic]);
    }
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'CloudWatchAlarmsOfThisAccount',
            Condition: { StringEquals: { 'aws:SourceAccount': '111122223333' }, ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:eu-west-1:111122223333:alarm:*' } },
          }),
        ]),
      },
    });
  });
});

describe('the monitoring of the dev stack', () => {
  const dev = synthesized({ env: 'dev' });

  it('alarms on refresh failures, profiles needing authorization, refresh-function errors and API 5xx, to an encrypted topic', () => {
    const topicId = logicalId(dev.template, 'AWS::SNS::Topic', 'AlarmTopic');
    const topic = resources(dev.template, 'AWS::SNS::Topic')[topicId]!.Properties!;
    expect(topic.KmsMasterKeyId).toBeDefined();
    dev.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    const alarms = resources(dev.template, 'AWS::CloudWatch::Alarm');
    const byId = (prefix: string) => alarms[logicalId(dev.template, 'AWS::CloudWatch::Alarm', prefix)]!.Properties!;
    for (const alarm of Object.values(alarms)) {
      expect(alarm.Properties!.AlarmActions).toEqual([{ Ref: topicId }]);
    }
    expect(byId('RefreshFunctionErrorsAlarm')).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Errors' });
    expect(byId('Api5xxAlarm')).toMatchObject({ Namespace: 'AWS/ApiGateway', MetricName: '5XXError' });
    expect(byId('RefreshFailureQueueAlarm')).toMatchObject({ Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible' });
    expect(byId('RefreshFailuresAlarm')).toMatchObject({ Namespace: 'AWS/Events', MetricName: 'TriggeredRules' });
    expect(byId('ProfilesNeedAuthorizationAlarm')).toMatchObject({ Namespace: 'AWS/Events', MetricName: 'TriggeredRules' });
    // The status rules match the events the runtime publishes.
    dev.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['oauth-broker'],
        'detail-type': ['Profile Status Changed'],
        detail: Match.objectLike({ to: ['authorization_required', 'error'] }),
      },
    });
    dev.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ detail: Match.objectLike({ to: ['refresh_failing', 'expired'] }) }),
    });
    // No e-mail address is configured for dev.
    dev.template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('lets CloudWatch alarms of this account publish, and the status rules through roles of their own', () => {
    const policy = Object.values(resources(dev.template, 'AWS::SNS::TopicPolicy'))[0]!.Properties!.PolicyDocument;
    const cloudwatch = (policy.Statement as Cfn[]).find((s) => s.Sid === 'CloudWatchAlarmsOfThisAccount');
    expect(cloudwatch).toMatchObject({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish' });
    expect(Object.keys(cloudwatch.Condition).sort()).toEqual(['ArnLike', 'StringEquals']);
    expect(JSON.stringify(policy)).not.toContain('events.amazonaws.com');
    for (const rule of Object.values(resources(dev.template, 'AWS::Events::Rule')).filter((r) => r.Properties!.EventPattern)) {
      expect(rule.Properties!.Targets[0].RoleArn).toBeDefined();
    }
  });
});

describe('the monitoring with an alarm e-mail address', () => {
  const withEmail = synthesized({ env: 'dev', overrides: { alarmEmail: 'oncall@example.com' } });

  it('subscribes the alarm e-mail address', () => {
    withEmail.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });
});
