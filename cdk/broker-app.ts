/**
 * Builds the CDK app: one `BrokerStack` named `OAuthBroker-<env>` for the environment chosen with
 * `-c env=<name>`, checked by cdk-nag's AwsSolutions pack as part of synthesis.
 */
import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BrokerStack } from './broker-stack.js';
import { resolveEnvironment, type EnvironmentSettings } from './environments.js';

export const stackName = (environment: string): string => `OAuthBroker-${environment}`;

export interface DeploymentTarget {
  account?: string | undefined;
  region?: string | undefined;
}

/**
 * Where `cdk synth` / `cdk deploy` put a stack whose environment pins no account or region: the CLI's
 * account (`CDK_DEFAULT_ACCOUNT`, set only when it has credentials), and a region only when one is set
 * explicitly (`AWS_REGION`, `AWS_DEFAULT_REGION`). Not `CDK_DEFAULT_REGION`: the CLI sets it to
 * `us-east-1` when nothing is configured, which would write that region into a template meant for any.
 * Without a region the stack uses `AWS::Region` everywhere and deploys to the CLI's region.
 */
export function deploymentTarget(env: Record<string, string | undefined>): DeploymentTarget {
  return { account: env.CDK_DEFAULT_ACCOUNT || undefined, region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined };
}

/**
 * Adds the stack of environment `envName` (unknown names throw, listing the known ones). The account and
 * region are the environment's own when it pins them, else `target` (the CLI's `CDK_DEFAULT_ACCOUNT` /
 * `CDK_DEFAULT_REGION`); with neither the stack is environment-agnostic, so `cdk synth` needs no
 * credentials.
 */
export function addBrokerStack(
  app: App,
  envName: unknown,
  target: DeploymentTarget = {},
  table?: Record<string, EnvironmentSettings>,
): BrokerStack {
  const settings = resolveEnvironment(envName, table);
  const account = settings.account ?? target.account;
  const region = settings.region ?? target.region;
  return new BrokerStack(app, stackName(settings.name), {
    settings,
    ...(account || region ? { env: { ...(account ? { account } : {}), ...(region ? { region } : {}) } } : {}),
  });
}

/**
 * Registers cdk-nag's AwsSolutions pack as a validation plugin of `app`: synthesis (and so `cdk synth`,
 * `cdk deploy` and `npm run synth`) fails on any finding that is not acknowledged in the stack.
 */
export function enableNag(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}
