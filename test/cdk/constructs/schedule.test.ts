/**
 * cdk/constructs/schedule.ts: the refresh job on a schedule, one run at a time, failures kept in a queue.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { RefreshSchedule } from '../../../cdk/constructs/schedule.js';
import { environments } from '../../../cdk/environments.js';
import { functionProps, logicalId, resources, synthesized, focusedStack } from '../support.js';

describe('RefreshSchedule on its own', () => {
  it('runs the function at the environment\'s interval, with the queue behind the target and the function', () => {
    const stack = focusedStack();
    const refresh = new lambda.Function(stack, 'Job', { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('export const handler = 1;') });

    const schedule = new RefreshSchedule(stack, 'Schedule', { settings: { ...environments.dev, refreshIntervalMinutes: 7 }, refresh });
    const template = Template.fromStack(stack);

    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(7 minutes)' });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 420 });
    expect(schedule.failures.node.id).toBe('Failures');
  });
});

describe('the schedule of the dev stack', () => {
  const dev = synthesized({ env: 'dev' });

  it('runs the refresh job on a schedule, one at a time, with a failure destination', () => {
    const refreshId = logicalId(dev.template, 'AWS::Lambda::Function', 'Refresh');
    const queueId = logicalId(dev.template, 'AWS::SQS::Queue', 'RefreshFailures');
    dev.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [refreshId, 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
        }),
      ],
    });
    expect(functionProps(dev.template, 'Refresh').ReservedConcurrentExecutions).toBe(1);
    for (const name of ['Profiles', 'AuthorizeUrl', 'Callback', 'Token']) {
      expect(functionProps(dev.template, name).ReservedConcurrentExecutions).toBeUndefined();
    }
    // Each run ends before the next starts.
    expect(functionProps(dev.template, 'Refresh').Timeout).toBeLessThan(300);
    dev.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: refreshId },
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    });
    // The failure queue is encrypted and refuses plain HTTP.
    const queue = resources(dev.template, 'AWS::SQS::Queue')[queueId]!.Properties!;
    expect(queue.SqsManagedSseEnabled).toBe(true);
    dev.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});
