/**
 * cdk-nag AwsSolutions: no unacknowledged finding, in every environment and with every optional setting,
 * and proof that the check is live (a violating resource is reported, and fails synthesis).
 *
 * cdk-nag 3 is a policy-validation plugin: it reports through the validation step of synthesis and
 * `NagPack.validateScope`, not through annotations, so these tests read its report directly.
 */
import { Validations, type App } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { enableNag } from '../../cdk/broker-app.js';
import { buildApp, synth, type SynthOptions } from './support.js';

function findings(app: App) {
  return new AwsSolutionsChecks(app).validateScope(app);
}

const OPTIONS: Record<string, SynthOptions> = {
  dev: { env: 'dev' },
  prod: { env: 'prod' },
  'dev with every option': {
    env: 'dev',
    overrides: {
      alarmEmail: 'oncall@example.com',
      allowedPrincipals: { admin: { arns: ['arn:aws:iam::111122223333:role/broker-admin'] }, token: { arns: ['arn:aws:iam::111122223333:role/mes-*'], organizationIds: ['o-a1b2c3d4e5'] } },
      secretsAdminRoleArns: ['arn:aws:iam::111122223333:role/broker-break-glass'],
      customDomain: {
        domainName: 'broker.example.com',
        certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/0f2a1e63-0000-4000-8000-000000000000',
        hostedZone: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' },
      },
      webAclArn: 'arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/broker/0f2a1e63-0000-4000-8000-000000000000',
      manageApiGatewayAccountRole: false,
    },
  },
};

describe('cdk-nag AwsSolutions', () => {
  it.each(Object.keys(OPTIONS))('reports 0 unacknowledged findings for %s', (name) => {
    const { app } = synth(OPTIONS[name]);
    const report = findings(app);
    expect(report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('reports a violating resource added to the stack', () => {
    const { app, stack } = buildApp({ env: 'dev' });
    new sqs.Queue(stack, 'UnencryptedQueue', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    app.synth();
    const report = findings(app);
    expect(report.success).toBe(false);
    const byRule = Object.fromEntries(report.violations.map((v) => [v.ruleName, v.violatingResources.map((r) => r.constructPath)]));
    expect(byRule['AwsSolutions-SQS2']).toEqual(['OAuthBroker-dev/UnencryptedQueue/Resource']);
    expect(byRule['AwsSolutions-SQS4']).toEqual(['OAuthBroker-dev/UnencryptedQueue/Resource']);
    // And nothing of the broker's own resources.
    for (const paths of Object.values(byRule)) expect(paths).toEqual(['OAuthBroker-dev/UnencryptedQueue/Resource']);
  });

  it('reports a wildcard that is not the acknowledged one, even on an acknowledged role', () => {
    const { app, stack } = buildApp({ env: 'dev' });
    stack.brokerFunctions.functions.token.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: ['*'] }),
    );
    app.synth();
    const rules = findings(app).violations.map((v) => v.ruleName);
    expect(rules).toEqual(['AwsSolutions-IAM5[Resource::*]']);
  });

  it('fails synthesis through the validation plugin the app registers, and passes without the violation', () => {
    const clean = buildApp({ env: 'dev', context: { '@aws-cdk/core:appMode': 'inmemory' } });
    enableNag(clean.app);
    expect(() => clean.app.synth()).not.toThrow();

    const dirty = buildApp({ env: 'dev', context: { '@aws-cdk/core:appMode': 'inmemory' } });
    enableNag(dirty.app);
    new sqs.Queue(dirty.stack, 'UnencryptedQueue', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    expect(() => dirty.app.synth()).toThrow(/UnencryptedQueue\/Resource[\s\S]*AwsSolutions-SQS4/);
  });

  it('acknowledges only the reviewed findings, each with a reason', () => {
    const { app } = synth({ env: 'dev' });
    const acknowledged = new Map<string, string>();
    const visit = (node: IConstruct) => {
      for (const entry of node.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          acknowledged.set(`${node.node.path} ${id.replace(/^annotation::/i, '')}`, reason);
        }
      }
      node.node.children.forEach(visit);
    };
    visit(app);
    const secrets = (kind: string, suffix = '-??????') =>
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:oauth-broker/dev/*/${kind}${suffix}]`;
    const role = (name: string, ...findings: string[]) => findings.map((f) => `OAuthBroker-dev/Functions/${name}Role ${f}`);
    // `-??????`: existing secrets; `''`: the suffix-less name of a secret that does not exist yet; `*`: CreateSecret.
    const existingAndMissing = (kind: string) => [secrets(kind), secrets(kind, '')];
    const eventsRole = (rule: string) => `OAuthBroker-dev/Monitoring/${rule}/EventsRole AwsSolutions-IAM5[Action::kms:GenerateDataKey*]`;
    expect([...acknowledged.keys()].sort()).toEqual(
      [
        'OAuthBroker-dev/Schedule/Failures AwsSolutions-SQS3',
        'OAuthBroker-dev/Api/Api AwsSolutions-COG4',
        'OAuthBroker-dev/Api/Api/Default/callback/GET AwsSolutions-APIG4',
        'OAuthBroker-dev/Api/Api/Default/jwks/GET AwsSolutions-APIG4',
        'OAuthBroker-dev/Api/Api/CloudWatchRole AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        'OAuthBroker-dev/Api/Api/DeploymentStage.dev AwsSolutions-APIG3',
        ...role('Profiles', ...['-??????', '', '*'].flatMap((suffix) => [secrets('client-secret', suffix), secrets('token-set', suffix)])),
        ...['Callback', 'Token', 'Refresh'].flatMap((name) =>
          role(name, ...existingAndMissing('client-secret'), ...existingAndMissing('token-set'), secrets('token-set', '*')),
        ),
        eventsRole('ProfilesNeedAttentionRule'),
        eventsRole('RefreshFailingRule'),
        'OAuthBroker-dev/TokenConsumerPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<ApiF70053CD>/dev/GET/profiles/*/token]',
      ].sort(),
    );
    for (const reason of acknowledged.values()) expect(reason.length).toBeGreaterThan(60);
  });
});
