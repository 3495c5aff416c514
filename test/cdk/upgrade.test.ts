/**
 * An environment deployed before the constructs split upgrades in place (cdk/legacy-ids.ts): every
 * resource of that stack (test/cdk/dbdeb3f-resources.ts) keeps its logical ID and type, so CloudFormation
 * updates it instead of creating a new one: the same table, secrets key and alias, API id and callback URL.
 */
import { CfnElement, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { legacyLogicalId, legacyPath, LEGACY_PATH_PREFIXES } from '../../cdk/legacy-ids.js';
import type { EnvironmentSettings } from '../../cdk/environments.js';
import { DBDEB3F_RESOURCES } from './dbdeb3f-resources.js';
import { type Cfn, resources, synthesized, type Synthesized } from './support.js';

const DEPLOYMENT = 'AWS::ApiGateway::Deployment';

/** The settings the fixture's `optionalParts` were synthesized with (the principal lists in today's shape). */
const OPTIONAL_PARTS_SETTINGS: Partial<EnvironmentSettings> = {
  alarmEmail: 'oncall@example.com',
  customDomain: {
    domainName: 'oauth-broker.example.com',
    certificateArn: 'arn:aws:acm:eu-central-1:111122223333:certificate/abc',
    hostedZone: { hostedZoneId: 'Z123', zoneName: 'example.com' },
  },
  webAclArn: 'arn:aws:wafv2:eu-central-1:111122223333:regional/webacl/x/abc',
  allowedPrincipals: { admin: { arns: ['arn:aws:iam::111122223333:role/x'] }, token: { arns: ['arn:aws:iam::111122223333:role/x'] } },
};

const stacks = {
  dev: synthesized({ env: 'dev' }),
  prod: synthesized({ env: 'prod' }),
  optionalParts: synthesized({ env: 'dev', overrides: OPTIONAL_PARTS_SETTINGS }),
};

/**
 * The ID a resource must keep. The API deployment's ID ends in a hash of the API's definition (32 hex
 * digits), so that a changed API gets a new deployment, as every API change since has; the part before
 * the hash is what must stay.
 */
const keptId = (id: string, type: string): string => (type === DEPLOYMENT ? id.replace(/[0-9a-f]{32}$/, '') : id);

/** The resources of `s` missing from today's template or of another type (empty when all are kept). */
function notKept(s: Synthesized, expected: Record<string, string>): string[] {
  const today = s.template.toJSON().Resources as Record<string, { Type: string }>;
  const todayIds = new Map(Object.entries(today).map(([id, r]) => [`${r.Type} ${keptId(id, r.Type)}`, id]));
  return Object.entries(expected)
    .filter(([id, type]) => !todayIds.has(`${type} ${keptId(id, type)}`))
    .map(([id, type]) => `${type} ${id}${today[id] ? ` (now ${today[id]!.Type})` : ''}`);
}

describe('an environment deployed before the constructs split', () => {
  it.each(['dev', 'prod'] as const)('%s: every resource of that stack keeps its logical ID and type', (env) => {
    const expected = { ...DBDEB3F_RESOURCES.both, ...DBDEB3F_RESOURCES[env] };
    expect(Object.keys(expected)).toHaveLength(83);
    expect(notKept(stacks[env], expected)).toEqual([]);
  });

  it('with an alarm e-mail, a custom domain and a web ACL: their subscription, domain, mapping, record and association keep theirs too', () => {
    const expected = { ...DBDEB3F_RESOURCES.both, ...DBDEB3F_RESOURCES.dev, ...DBDEB3F_RESOURCES.optionalParts };
    expect(notKept(stacks.optionalParts, expected)).toEqual([]);
  });

  it.each(['dev', 'prod'] as const)('%s keeps the stateful resources: table, secrets key and alias, REST API and stage, alarm topic, failure queue', (env) => {
    const { template } = stacks[env];
    const byId = (id: string, type: string): Cfn => {
      const resource = resources(template, type)[id];
      expect(resource, `${type} ${id}`).toBeDefined();
      return resource!.Properties;
    };
    byId('TableCD117FA1', 'AWS::DynamoDB::Table');
    byId('SecretsKey317DCF94', 'AWS::KMS::Key');
    // The alias has a fixed name: a second one would make the update fail.
    expect(byId('SecretsKeyAliasF590BEF1', 'AWS::KMS::Alias')).toEqual({
      AliasName: `alias/oauth-broker/${env}`,
      TargetKeyId: { 'Fn::GetAtt': ['SecretsKey317DCF94', 'Arn'] },
    });
    expect(byId('ApiF70053CD', 'AWS::ApiGateway::RestApi').Name).toBe(`oauth-broker-${env}`);
    const stage = byId(Object.keys(DBDEB3F_RESOURCES[env]).find((id) => id.startsWith('ApiDeploymentStage'))!, 'AWS::ApiGateway::Stage');
    expect(stage).toMatchObject({ RestApiId: { Ref: 'ApiF70053CD' }, StageName: env });
    byId('AlarmTopicD01E77F9', 'AWS::SNS::Topic');
    byId('RefreshFailuresC6C0AA17', 'AWS::SQS::Queue');
    // So the callback URL registered at the authorization servers, and the execution-log group named after
    // the API id, stay what they were.
    expect(JSON.stringify(template.toJSON().Outputs.CallbackUrl.Value)).toContain('{"Ref":"ApiF70053CD"}');
    expect(JSON.stringify(byId('ApiExecutionLogs66FBF5B8', 'AWS::Logs::LogGroup').LogGroupName)).toContain('{"Ref":"ApiF70053CD"}');
  });

  it('maps whole construct subtrees, each documented prefix to its old place', () => {
    expect(LEGACY_PATH_PREFIXES.map(([current]) => current)).toEqual(['Data', 'Api/Api', 'Api/AccessLogs', 'Api/ExecutionLogs', 'Api', 'Functions', 'Schedule/Rule', 'Schedule/Failures', 'Monitoring']);
    expect(legacyPath(['Data', 'Table', 'Resource'])).toEqual(['Table', 'Resource']);
    expect(legacyPath(['Api', 'Api', 'Default', 'callback', 'GET'])).toEqual(['Api', 'Default', 'callback', 'GET']);
    expect(legacyPath(['Api', 'AccessLogs', 'Resource'])).toEqual(['ApiAccessLogs', 'Resource']);
    expect(legacyPath(['Api', 'WebAclAssociation'])).toEqual(['WebAclAssociation']);
    expect(legacyPath(['Schedule', 'Rule', 'Resource'])).toEqual(['RefreshSchedule', 'Resource']);
    // Prefixes match whole construct ids, and a path outside every prefix is returned as it is.
    const sibling = ['Schedule', 'RuleX'];
    expect(legacyPath(sibling)).toBe(sibling);
    expect(legacyPath(['SigningKeys', 'es256', 'Resource'])).toEqual(['SigningKeys', 'es256', 'Resource']);
  });

  it('gives every element outside the mapped subtrees (signing keys, consumer policy, outputs) exactly CDK\'s default logical ID', () => {
    const { stack } = stacks.dev;
    const defaultId = (element: CfnElement): string =>
      (Stack.prototype as unknown as { allocateLogicalId(e: CfnElement): string }).allocateLogicalId.call(stack, element);
    const outside = stack.node
      .findAll()
      .filter(CfnElement.isCfnElement)
      .filter((element) => {
        const path = element.node.scopes.slice(element.node.scopes.indexOf(stack) + 1).map((s) => s.node.id);
        return legacyPath(path) === path;
      });
    expect(outside.map((e) => e.node.path)).toEqual(
      expect.arrayContaining(['OAuthBroker-dev/SigningKeys/es256/Resource', 'OAuthBroker-dev/TokenConsumerPolicy/Resource', 'OAuthBroker-dev/CallbackUrl']),
    );
    for (const element of outside) expect(legacyLogicalId(stack, element), element.node.path).toBe(defaultId(element));
  });
});
