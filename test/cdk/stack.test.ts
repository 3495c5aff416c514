/**
 * The broker stack as a whole (cdk/broker-stack.ts): its name and protection, the consumers' policy and
 * outputs, prod's settings across the constructs, and one region everywhere. Each construct has its own
 * focused tests under test/cdk/constructs/.
 */
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { addBrokerStack } from '../../cdk/broker-app.js';
import { actionsOf, type Cfn, cdkJson, FUNCTION_IDS, functionProps, resources, resourceText, synthesized, type Statement } from './support.js';

const stacks = { dev: synthesized({ env: 'dev' }), prod: synthesized({ env: 'prod' }) };

describe('the dev and prod stacks', () => {
  it.each([
    { env: 'dev', protection: false },
    { env: 'prod', protection: true },
  ] as const)('$env is named OAuthBroker-$env; termination protection: $protection', ({ env, protection }) => {
    expect(stacks[env].stack.stackName).toBe(`OAuthBroker-${env}`);
    expect(stacks[env].stack.terminationProtection).toBe(protection);
  });
});

describe('dev stack', () => {
  const { dev } = stacks;

  it('outputs ApiUrl, CallbackUrl, TableName and a consumer policy for GET /profiles/*/token', () => {
    for (const name of ['ApiUrl', 'CallbackUrl', 'TableName', 'ConsumerPolicyArn']) dev.template.hasOutput(name, Match.anyValue());
    const policies = Object.values(resources(dev.template, 'AWS::IAM::ManagedPolicy'));
    expect(policies).toHaveLength(1);
    const statements = policies[0]!.Properties!.PolicyDocument.Statement as Statement[];
    expect(statements).toHaveLength(1);
    expect(actionsOf(statements)).toEqual(['execute-api:Invoke']);
    expect(resourceText(statements[0]!).join()).toMatch(/\/dev\/GET\/profiles\/\*\/token"\]\]\}$/);
  });
});

describe('prod stack', () => {
  const { prod } = stacks;

  it('uses prod logging: INFO functions, ERROR execution logs, no data trace, 90-day retention', () => {
    for (const name of FUNCTION_IDS) {
      const fn = functionProps(prod.template, name);
      expect(fn.Environment.Variables.POWERTOOLS_LOG_LEVEL).toBe('INFO');
      expect(fn.Environment.Variables.BROKER_SECRET_PREFIX).toBe('oauth-broker/prod');
    }
    const stage = Object.values(resources(prod.template, 'AWS::ApiGateway::Stage'))[0]!.Properties!;
    expect(stage.StageName).toBe('prod');
    for (const s of stage.MethodSettings as Cfn[]) {
      expect(s.DataTraceEnabled).toBe(false);
      expect(s.LoggingLevel).toBe('ERROR');
    }
    for (const g of Object.values(resources(prod.template, 'AWS::Logs::LogGroup'))) expect(g.Properties!.RetentionInDays).toBe(90);
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
    expect(regionsIn(stacks.prod.template.toJSON())).toEqual({ literals: [], pseudo: true });
  });
});
