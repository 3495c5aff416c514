/**
 * The environment table (cdk/environments.ts) and the app's choice of environment.
 */
import { App, Token } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { addBrokerStack, deploymentTarget, stackName } from '../../cdk/broker-app.js';
import { environments, resolveEnvironment, validateEnvironment, validateSecretPrefixes, type EnvironmentSettings } from '../../cdk/environments.js';

const base: EnvironmentSettings = environments.dev;

describe('environments', () => {
  it('defines dev and prod, each valid and named after its key', () => {
    expect(Object.keys(environments)).toEqual(expect.arrayContaining(['dev', 'prod']));
    for (const [key, settings] of Object.entries(environments)) {
      expect(settings.name).toBe(key);
      expect(() => validateEnvironment(settings, key)).not.toThrow();
    }
  });

  it('prod keeps its data and logs longer than dev', () => {
    expect(environments.prod.retainData).toBe(true);
    expect(environments.dev.retainData).toBe(false);
    expect(environments.prod.logRetention).toBeGreaterThan(environments.dev.logRetention);
    expect(environments.prod.apiExecutionLogLevel).toBe('ERROR');
  });

  it('fails for an unknown or missing name, listing the known ones', () => {
    expect(() => resolveEnvironment('staging')).toThrow('Unknown environment "staging". Known environments: dev, prod.');
    expect(() => resolveEnvironment(undefined)).toThrow('No environment given. Known environments: dev, prod.');
    expect(() => resolveEnvironment('toString')).toThrow(/Unknown environment "toString"/);
    expect(() => addBrokerStack(new App(), 'qa')).toThrow(/Known environments: dev, prod/);
  });

  it('names the stack OAuthBroker-<env>', () => {
    expect(stackName('prod')).toBe('OAuthBroker-prod');
  });

  it('refuses settings that would deploy something broken', () => {
    const bad = (override: Partial<EnvironmentSettings>) => () => validateEnvironment({ ...base, ...override });
    expect(bad({ refreshMarginSeconds: 599 })).toThrow(/at least twice the refresh interval \(600 s\)/);
    expect(bad({ refreshIntervalMinutes: 0 })).toThrow(/refreshIntervalMinutes/);
    expect(bad({ name: 'Dev' })).toThrow(/lower-case/);
    expect(bad({ secretPrefix: 'oauth-broker/' })).toThrow(/secretPrefix/);
    expect(bad({ alarmEmail: 'nobody' })).toThrow(/alarmEmail/);
    expect(bad({ customDomain: { domainName: 'Broker.Example.com', certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/x' } })).toThrow(
      /domainName/,
    );
    expect(bad({ throttling: { ...base.throttling, callbackRateLimit: 1000 } })).toThrow(/callback throttling/);
  });

  it('uses the environment\'s own account and region when it pins them, else the CLI\'s', () => {
    const pinned = { pinned: { ...base, name: 'pinned', account: '111122223333', region: 'eu-west-1' } };
    const stack = addBrokerStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'pinned', { account: '999999999999', region: 'us-east-1' }, pinned);
    expect(stack.account).toBe('111122223333');
    expect(stack.region).toBe('eu-west-1');
    const cli = addBrokerStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'dev', { account: '999999999999', region: 'us-east-1' });
    expect(cli.account).toBe('999999999999');
    const agnostic = addBrokerStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'dev');
    expect(Token.isUnresolved(agnostic.account)).toBe(true);
    expect(Token.isUnresolved(agnostic.region)).toBe(true);
  });

  describe('allowedPrincipals', () => {
    const bad = (override: Partial<EnvironmentSettings>) => () => validateEnvironment({ ...base, ...override });
    const admin = { arns: ['arn:aws:iam::111122223333:role/broker-admin'] };

    it('refuses a wildcard account, which would open the routes to every AWS account, and says what to write instead', () => {
      expect(bad({ allowedPrincipals: { admin, token: { arns: ['arn:aws:iam::*:role/mes-sync'] } } })).toThrow(
        'allowedPrincipals.token.arns: "arn:aws:iam::*:role/mes-sync" has a wildcard account: it would open these routes to principals of any AWS account. Name the 12-digit account (arn:aws:iam::111122223333:role/<name>), or list the organisation in organizationIds.',
      );
      expect(bad({ allowedPrincipals: { admin: { arns: ['*'] }, token: admin } })).toThrow(/allowedPrincipals\.admin\.arns: "\*" has a wildcard account/);
      expect(bad({ allowedPrincipals: { admin, token: { arns: ['arn:aws:iam::1111222233*:role/x'] } } })).toThrow(/has a wildcard account/);
    });

    it('refuses a missing account id, a non-ARN, an empty list and a malformed organisation id', () => {
      expect(bad({ allowedPrincipals: { admin, token: { arns: ['arn:aws:iam:::role/mes-sync'] } } })).toThrow(
        'allowedPrincipals.token.arns: "arn:aws:iam:::role/mes-sync" has no account id: write arn:aws:iam::<12-digit account>:role/<name>.',
      );
      expect(bad({ allowedPrincipals: { admin, token: { arns: ['mes-role'] } } })).toThrow(/"mes-role" is not an IAM principal ARN/);
      expect(bad({ allowedPrincipals: { admin, token: {} } })).toThrow(/allowedPrincipals\.token lists nobody/);
      expect(bad({ allowedPrincipals: { admin, token: { organizationIds: ['org-1'] } } })).toThrow(/"org-1" is not an AWS Organizations id/);
      expect(bad({ allowedPrincipals: { admin } as never })).toThrow(/allowedPrincipals\.token is missing/);
    });

    it('accepts separate admin and token lists, name wildcards within an account, and organisations', () => {
      const allowedPrincipals = {
        admin,
        token: { arns: ['arn:aws:iam::111122223333:role/mes-*', 'arn:aws:sts::111122223333:assumed-role/ci/*'], organizationIds: ['o-a1b2c3d4e5'] },
      };
      expect(resolveEnvironment('dev', { dev: { ...base, allowedPrincipals } }).allowedPrincipals).toEqual(allowedPrincipals);
    });
  });

  it('refuses secretsAdminRoleArns that are not exact role ARNs (the key policy names each)', () => {
    const bad = (arn: string) => () => validateEnvironment({ ...base, secretsAdminRoleArns: [arn] });
    expect(bad('arn:aws:iam::111122223333:role/admin-*')).toThrow(/secretsAdminRoleArns: "arn:aws:iam::111122223333:role\/admin-\*" is not an exact IAM role ARN/);
    expect(bad('arn:aws:iam::111122223333:user/alice')).toThrow(/not an exact IAM role ARN/);
    const path = 'arn:aws:iam::111122223333:role/ops/break-glass';
    expect(resolveEnvironment('dev', { dev: { ...base, secretsAdminRoleArns: [path] } }).secretsAdminRoleArns).toEqual([path]);
  });

  it('refuses environments whose secrets folders nest, naming both and the fix', () => {
    const table = { dev: base, inner: { ...base, name: 'inner', secretPrefix: 'oauth-broker/dev' } };
    expect(() => validateSecretPrefixes(table)).toThrow(
      'the secrets of "inner" (oauth-broker/dev/inner/) lie inside those of "dev" (oauth-broker/dev/): "dev"\'s functions could read and delete them. Give one of them another secretPrefix or name.',
    );
    expect(() => resolveEnvironment('dev', table)).toThrow(/Environments share secrets/);
    // Siblings that only share a string prefix do not nest.
    expect(() => validateSecretPrefixes({ dev: base, devx: { ...base, name: 'devx' } })).not.toThrow();
    expect(() => validateSecretPrefixes(environments)).not.toThrow();
  });

  it('takes the CLI\'s region only when one is configured, never its us-east-1 fallback', () => {
    expect(deploymentTarget({ CDK_DEFAULT_ACCOUNT: '111122223333', CDK_DEFAULT_REGION: 'us-east-1' })).toEqual({ account: '111122223333', region: undefined });
    expect(deploymentTarget({ CDK_DEFAULT_REGION: 'us-east-1', AWS_REGION: 'eu-west-1' })).toEqual({ account: undefined, region: 'eu-west-1' });
    expect(deploymentTarget({ AWS_DEFAULT_REGION: 'eu-central-1' }).region).toBe('eu-central-1');
  });
});
