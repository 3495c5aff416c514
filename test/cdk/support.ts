/**
 * Synthesis helpers for the CDK tests. Apps are built with the feature flags of cdk.json, exactly as
 * `cdk synth` builds them, and environment-agnostic (no account or region), so templates do not depend on
 * the machine's credentials.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack, type Environment } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll } from 'vitest';
import { addBrokerStack } from '../../cdk/broker-app.js';
import type { BrokerStack } from '../../cdk/broker-stack.js';
import { PROJECT_ROOT } from '../../cdk/broker-stack.js';
import { environments, type EnvironmentSettings } from '../../cdk/environments.js';

export const cdkJson = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
  app: string;
  context: Record<string, unknown>;
};

export interface SynthOptions {
  /** A key of cdk/environments.ts; default `dev`. */
  env?: string;
  /** Settings to change for this test only. */
  overrides?: Partial<EnvironmentSettings>;
  /** Run esbuild for real (slow-ish: five bundles); default false, which leaves the assets unbundled. */
  bundle?: boolean;
  /** More context, e.g. the app mode. */
  context?: Record<string, unknown>;
}

export interface Synthesized {
  app: App;
  stack: BrokerStack;
  template: Template;
}

/** Builds the app of one environment, without synthesising it (so that tests can add to it first). */
export function buildApp(options: SynthOptions = {}): { app: App; stack: BrokerStack } {
  const name = options.env ?? 'dev';
  const table: Record<string, EnvironmentSettings> = { ...environments };
  if (options.overrides) table[name] = { ...table[name]!, ...options.overrides };
  const app = new App({
    context: {
      ...cdkJson.context,
      env: name,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...options.context,
    },
  });
  const stack = addBrokerStack(app, name, {}, table);
  return { app, stack };
}

export function synth(options: SynthOptions = {}): Synthesized {
  const { app, stack } = buildApp(options);
  const template = Template.fromStack(stack);
  return { app, stack, template };
}

/**
 * The app of `options`, synthesized once before the tests of the enclosing suite: the object returned now
 * is filled then, so a suite declares `const dev = synthesized({ env: 'dev' })` and its tests read
 * `dev.template`.
 */
export function synthesized(options: SynthOptions = {}, timeout = 60_000): Synthesized {
  const result = {} as Synthesized;
  beforeAll(() => {
    Object.assign(result, synth(options));
  }, timeout);
  return result;
}

/** A value of a synthesized CloudFormation template: arbitrary JSON, navigated freely by the tests. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Cfn = any;

type Resources = Record<string, { Type: string; Properties?: Record<string, Cfn>; [key: string]: Cfn }>;

export function resources(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

/** The logical id of the only resource of `type` whose logical id starts with `prefix`. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(resources(template, type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}

export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** Every statement of the IAM policies attached to the role whose logical id starts with `rolePrefix`. */
export function roleStatements(template: Template, rolePrefix: string): Statement[] {
  const roleId = logicalId(template, 'AWS::IAM::Role', rolePrefix);
  const role = resources(template, 'AWS::IAM::Role')[roleId]!;
  const statements: Statement[] = [];
  for (const policy of Object.values(resources(template, 'AWS::IAM::Policy'))) {
    const roles = (policy.Properties!.Roles as { Ref: string }[]).map((r) => r.Ref);
    if (roles.includes(roleId)) statements.push(...(policy.Properties!.PolicyDocument.Statement as Statement[]));
  }
  for (const inline of (role.Properties!.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]) {
    statements.push(...inline.PolicyDocument.Statement);
  }
  if ((role.Properties!.ManagedPolicyArns ?? []).length > 0) throw new Error(`${roleId} has managed policies`);
  return statements;
}

export const actionsOf = (statements: Statement[]): string[] =>
  [...new Set(statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])))].sort();

/** A template as JSON with every asset hash replaced, so that snapshots do not change with the code. */
export function normalisedTemplate(template: Template): unknown {
  return JSON.parse(JSON.stringify(template.toJSON()).replace(/[0-9a-f]{64}/g, '<asset-hash>'));
}

/** The construct ids of the functions (lib/functions.ts keys, capitalised). */
export const FUNCTION_IDS = ['Profiles', 'AuthorizeUrl', 'Callback', 'Token', 'Refresh', 'Jwks', 'Keys'] as const;

export interface Route {
  method: string;
  path: string;
  properties: Record<string, Cfn>;
}

/** Every API method with its full resource path, e.g. `GET /profiles/{id}/token`. */
export function routes(template: Template): Route[] {
  const apiResources = resources(template, 'AWS::ApiGateway::Resource');
  const pathOf = (ref: unknown): string => {
    if (typeof ref === 'object' && ref !== null && 'Fn::GetAtt' in ref) return ''; // the root resource
    const id = (ref as { Ref: string }).Ref;
    const r = apiResources[id]!;
    return `${pathOf(r.Properties!.ParentId)}/${r.Properties!.PathPart}`;
  };
  return Object.values(resources(template, 'AWS::ApiGateway::Method')).map((m) => ({
    method: m.Properties!.HttpMethod,
    path: pathOf(m.Properties!.ResourceId) || '/',
    properties: m.Properties!,
  }));
}

/** The properties of the function whose construct id is `name` (`Token`, …). */
export function functionProps(template: Template, name: string): Record<string, Cfn> {
  const fns = resources(template, 'AWS::Lambda::Function');
  return fns[logicalId(template, 'AWS::Lambda::Function', name)]!.Properties!;
}

/** The resources of a statement, rendered as text (tokens as JSON), for pattern checks. */
export const resourceText = (s: Statement): string[] =>
  (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).map((r) => (typeof r === 'string' ? r : JSON.stringify(r)));

/**
 * A stack of its own for one construct's focused test, in an app with cdk.json's feature flags (plus
 * `context`); `env` pins an account and region where the construct needs them.
 */
export function focusedStack(options: { env?: Environment; context?: Record<string, unknown> } = {}): Stack {
  return new Stack(new App({ context: { ...cdkJson.context, ...options.context } }), 'Focused', options.env ? { env: options.env } : {});
}
