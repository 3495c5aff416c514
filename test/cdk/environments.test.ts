/**
 * The environment table (cdk/environments.ts) and the app's choice of environment.
 */
import { App, Token } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { addBrokerStack, stackName } from '../../cdk/broker-app.js';
import { environments, resolveEnvironment, validateEnvironment, type EnvironmentSettings } from '../../cdk/environments.js';

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
    expect(bad({ allowedPrincipals: [] })).toThrow(/at least one ARN/);
    expect(bad({ allowedPrincipals: ['mes-role'] })).toThrow(/not an IAM principal ARN/);
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
});
