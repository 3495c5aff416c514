/**
 * A synthesized template, deployed on paper: every `Ref`, `Fn::GetAtt`, `Fn::Join` and pseudo parameter
 * resolved to the names and ARNs AWS would give them in one account and region, and the policies of the
 * result evaluated by a real IAM policy engine (`@cloud-copilot/iam-simulate`: identity, resource and KMS
 * key policies, condition operators and keys).
 *
 * Secret ARNs are given as AWS evaluates them (the engine does not model Secrets Manager's suffix): an
 * existing secret's ARN ends in `-` and six characters; a request naming a secret that does not exist is
 * evaluated on the bare name.
 */
import { runSimulation, type Simulation, type SimulationRequestPrincipal } from '@cloud-copilot/iam-simulate';

export { anonymousPrincipal } from '@cloud-copilot/iam-simulate';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll } from 'vitest';
import { KMS_SIGNING_ALGORITHMS } from '../../lib/adapters/kms-signer.js';
import { awsRequests, type FunctionKey, type Placement } from '../../lib/functions.js';
import { parseSigningKeys } from '../../lib/keys/kms-keys.js';
import { synth, type Cfn, type SynthOptions } from './support.js';

export const ACCOUNT = '111122223333';
export const OTHER_ACCOUNT = '444455556666';
export const REGION = 'eu-west-1';
/** The account's administrator: a role whose identity policy is {@link ALLOW_EVERYTHING}. */
export const ACCOUNT_ADMIN = `arn:aws:iam::${ACCOUNT}:role/AccountAdministrator`;
/** A typical account administrator's identity policy: everything on everything, through IAM. */
export const ALLOW_EVERYTHING = [{ name: 'admin', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } }];
const PARTITION = 'aws';

export interface Deployed {
  env: string;
  resources: Record<string, { Type: string; Properties: Cfn }>;
  /** Physical name or id (`Ref`) of each logical id. */
  ref(logicalId: string): string;
  /** `Fn::GetAtt [id, Arn]`. */
  arn(logicalId: string): string;
  /** A value of the template with everything resolved. */
  resolve(value: unknown): Cfn;
  /** The logical id of the only resource of `type` whose id starts with `prefix`. */
  id(type: string, prefix: string): string;
}

const hashOf = (s: string) => [...s].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7).toString(16).padStart(8, '0');

/** "Deploys" `template` of environment `env` into {@link ACCOUNT} / {@link REGION}. */
export function deploy(template: Template, env: string): Deployed {
  const json = template.toJSON() as { Resources: Record<string, { Type: string; Properties: Cfn }> };
  const resources = json.Resources;
  const name = (id: string) => `OAuthBroker-${env}-${id}`.slice(0, 64);
  const keyId = (id: string) => {
    const h = hashOf(`${env}/${id}`);
    return `${h}-0000-4000-8000-${h}0000`;
  };
  const ref = (id: string): string => {
    const pseudo: Record<string, string> = {
      'AWS::AccountId': ACCOUNT,
      'AWS::Region': REGION,
      'AWS::Partition': PARTITION,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': `OAuthBroker-${env}`,
    };
    if (pseudo[id]) return pseudo[id];
    const r = resources[id];
    if (!r) throw new Error(`no resource ${id}`);
    switch (r.Type) {
      case 'AWS::KMS::Key':
        return keyId(id);
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${REGION}:${ACCOUNT}:${name(id)}`;
      case 'AWS::ApiGateway::RestApi':
        return `api${hashOf(`${env}/${id}`)}`.slice(0, 10);
      case 'AWS::ApiGateway::Stage':
        return r.Properties.StageName as string;
      case 'AWS::Logs::LogGroup':
        return (r.Properties.LogGroupName && typeof r.Properties.LogGroupName === 'string' ? r.Properties.LogGroupName : name(id)) as string;
      default:
        return name(id);
    }
  };
  const arn = (id: string): string => {
    const r = resources[id]!;
    switch (r.Type) {
      case 'AWS::DynamoDB::Table':
        return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${ref(id)}`;
      case 'AWS::KMS::Key':
        return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${ref(id)}`;
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${ACCOUNT}:role/${ref(id)}`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${ref(id)}`;
      case 'AWS::Logs::LogGroup':
        return `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${ref(id)}:*`;
      case 'AWS::SQS::Queue':
        return `arn:aws:sqs:${REGION}:${ACCOUNT}:${ref(id)}`;
      case 'AWS::Events::Rule':
        return `arn:aws:events:${REGION}:${ACCOUNT}:rule/${ref(id)}`;
      case 'AWS::SNS::Topic':
        return ref(id);
      default:
        throw new Error(`no ARN for ${r.Type}`);
    }
  };
  const resolve = (value: unknown): Cfn => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== 'object') return value;
    const o = value as Record<string, unknown>;
    if ('Ref' in o) return ref(o.Ref as string);
    if ('Fn::GetAtt' in o) {
      const [id, attribute] = o['Fn::GetAtt'] as [string, string];
      if (attribute === 'Arn') return arn(id);
      if (attribute === 'RootResourceId') return 'root';
      throw new Error(`unsupported GetAtt ${id}.${attribute}`);
    }
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return (resolve(parts) as unknown[]).join(sep);
    }
    if ('Fn::Split' in o || 'Fn::Select' in o || 'Fn::Sub' in o) throw new Error(`unsupported intrinsic ${Object.keys(o)[0]}`);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v)]));
  };
  const id = (type: string, prefix: string) => {
    const ids = Object.keys(resources).filter((k) => resources[k]!.Type === type && k.startsWith(prefix));
    if (ids.length !== 1) throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
    return ids[0]!;
  };
  return { env, resources, ref, arn, resolve, id };
}

/** `profiles` → `ProfilesRole…`. */
export const roleId = (d: Deployed, key: FunctionKey) => d.id('AWS::IAM::Role', `${key.charAt(0).toUpperCase()}${key.slice(1)}Role`);

/** The `AWS::IAM::Policy` resources (logical id and resource) attached to role `roleLogicalId`. */
export function attachedPolicies(resources: Deployed['resources'], roleLogicalId: string): [string, Deployed['resources'][string]][] {
  return Object.entries(resources).filter(
    ([, r]) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as { Ref: string }[]).some((x) => x.Ref === roleLogicalId),
  );
}

/** The identity policies attached to role `roleLogicalId`, resolved. */
export function identityPolicies(d: Deployed, roleLogicalId: string): Simulation['identityPolicies'] {
  return attachedPolicies(d.resources, roleLogicalId).map(([id, r]) => ({ name: id, policy: d.resolve(r.Properties.PolicyDocument) }));
}

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

export interface Request {
  /** An ARN, a service principal, or `anonymousPrincipal` (an unsigned request). */
  principal: SimulationRequestPrincipal;
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
  identityPolicies?: Simulation['identityPolicies'];
  resourcePolicy?: unknown;
  /** The resource's account; default {@link ACCOUNT}. */
  resourceAccount?: string;
}

/**
 * iam-simulate 0.1 drops `kms:EncryptionContext:<key>` from a request's context (it matches variable keys
 * only after a `/`, and this one has a `:`), so every condition on the secret ARN would fail as "missing".
 * For the engine only, that key is renamed to a stand-in KMS string key that no policy here uses, in the
 * request and in every policy evaluated with it; operators, values and semantics are unchanged.
 */
const ENCRYPTION_CONTEXT_KEY = 'kms:EncryptionContext:SecretARN';
const STAND_IN_KEY = 'kms:RequestAlias';

function withStandIn<T>(value: T): T {
  const text = JSON.stringify(value);
  if (text === undefined) return value;
  if (text.includes(`"${STAND_IN_KEY}"`)) throw new Error(`a policy uses ${STAND_IN_KEY}: choose another stand-in key`);
  return JSON.parse(text.split(`"${ENCRYPTION_CONTEXT_KEY}"`).join(`"${STAND_IN_KEY}"`)) as T;
}

/**
 * Runs one request through the engine; throws when the engine refuses the input (an ARN of the wrong type
 * for the action, an unknown action, a malformed policy).
 */
export async function evaluate(request: Request): Promise<Decision> {
  const principalAccount = typeof request.principal === 'string' ? /:(\d{12}):/.exec(request.principal)?.[1] : undefined;
  const simulation: Simulation = withStandIn({
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.resourceAccount ?? ACCOUNT },
      contextVariables: {
        ...(principalAccount ? { 'aws:PrincipalArn': request.principal as string, 'aws:PrincipalAccount': principalAccount } : {}),
        'aws:SecureTransport': 'true',
        ...request.context,
      },
    },
    identityPolicies: request.identityPolicies ?? [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(request.resourcePolicy ? { resourcePolicy: request.resourcePolicy } : {}),
  });
  const result = await runSimulation(simulation, {});
  if (result.resultType === 'error') throw new Error(`iam-simulate refused ${request.action} on ${request.resource}: ${JSON.stringify(result.errors)}`);
  if (result.resultType !== 'single') throw new Error(`unexpected ${result.resultType} result for ${request.action}`);
  const ignored = (result.result as { ignoredContextKeys?: string[] }).ignoredContextKeys ?? [];
  const meant = ignored.filter((key) => !/^aws:(PrincipalArn|PrincipalAccount|SecureTransport)$/i.test(key));
  if (meant.length > 0) throw new Error(`iam-simulate ignored context keys ${meant.join(', ')} of ${request.action}: the test would not mean what it says`);
  return result.overallResult as Decision;
}

/** The sample profile every request is about. */
export const PROFILE_ID = 'erp';

/** Where a function's calls land in environment `d` (or, for the negative checks, in `target`). */
export interface CallRequest {
  label: string;
  action: string;
  resource: string;
  context: Record<string, string | string[]>;
  /** The key policy AWS evaluates with a KMS request. */
  resourcePolicy?: unknown;
}

/** Where `d`'s resources are, as lib/functions.ts `awsRequests` names them. */
function placementOf(d: Deployed): Placement {
  return {
    partition: 'aws',
    region: REGION,
    account: ACCOUNT,
    tableName: d.ref(d.id('AWS::DynamoDB::Table', 'Table')),
    secretNamePrefix: `oauth-broker/${d.env}/`,
    secretsKeyArn: d.arn(d.id('AWS::KMS::Key', 'SecretsKey')),
    signingKeys: signingKeysOf(d),
  };
}

/** The signing keys as the functions are told them (`BROKER_SIGNING_KEYS`), with the KMS algorithm each grant pins. */
export function signingKeysOf(d: Deployed): { keyArn: string; signingAlgorithm: string }[] {
  const fn = d.resources[d.id('AWS::Lambda::Function', 'Profiles')]!;
  const value = d.resolve(fn.Properties.Environment.Variables.BROKER_SIGNING_KEYS) as unknown as string;
  return parseSigningKeys(value).map((k) => ({ keyArn: k.keyArn, signingAlgorithm: KMS_SIGNING_ALGORITHMS[k.alg] }));
}

/** The key policy of the KMS key `arn` of `d` (the secrets key or a signing key the stack created). */
export function keyPolicyOf(d: Deployed, arn: string): unknown {
  const id = Object.keys(d.resources).find((logical) => d.resources[logical]!.Type === 'AWS::KMS::Key' && d.arn(logical) === arn);
  if (!id) throw new Error(`no KMS key ${arn} in the ${d.env} template`);
  return d.resolve(d.resources[id]!.Properties.KeyPolicy);
}

/**
 * Every request AWS evaluates when function `key` of `d` makes its calls (lib/functions.ts) against the
 * resources of `target` (default `d` itself), KMS requests with `target`'s key policy.
 */
export function callRequests(d: Deployed, key: FunctionKey, target: Deployed = d): CallRequest[] {
  return awsRequests(key, placementOf(target), PROFILE_ID).map((r) => ({
    label: r.label,
    action: r.action,
    resource: r.resource,
    context: Object.fromEntries(Object.entries(r.context).map(([k, v]) => [k, typeof v === 'string' ? v : [...v]])),
    ...(r.keyPolicy ? { resourcePolicy: keyPolicyOf(target, r.resource) } : {}),
  }));
}

/** Evaluates every call of function `key` of `d` against `target`'s resources; one line per request. */
export async function evaluateCalls(d: Deployed, key: FunctionKey, target: Deployed = d): Promise<{ label: string; decision: Decision }[]> {
  const role = roleId(d, key);
  const principal = d.arn(role);
  const policies = identityPolicies(d, role);
  const out: { label: string; decision: Decision }[] = [];
  for (const call of callRequests(d, key, target)) {
    const decision = await evaluate({
      principal,
      action: call.action,
      resource: call.resource,
      context: call.context,
      identityPolicies: policies,
      resourcePolicy: call.resourcePolicy,
    });
    out.push({ label: call.label, decision });
  }
  return out;
}

/**
 * The environments the policy tests evaluate, synthesized and deployed on paper once before the tests of
 * the enclosing suite (or file): dev, prod and the named `variants`. The records returned now are filled
 * then, so the tests read `deployed.prod` and `templates.dev`.
 */
export function deployedEnvironments(
  variants: Record<string, SynthOptions & { env: string }> = {},
  timeout = 120_000,
): { templates: Record<string, Template>; deployed: Record<string, Deployed> } {
  const templates: Record<string, Template> = {};
  const deployed: Record<string, Deployed> = {};
  beforeAll(() => {
    for (const [name, options] of Object.entries({ dev: { env: 'dev' }, prod: { env: 'prod' }, ...variants })) {
      templates[name] = synth(options).template;
      deployed[name] = deploy(templates[name], options.env);
    }
  }, timeout);
  return { templates, deployed };
}

/**
 * `template` of `env` deployed on paper after `edit` changed a copy of its resources (a grant taken out),
 * to show that the policy tests fail without it.
 */
export function deployEdited(template: Template, env: string, edit: (resources: Deployed['resources'], d: Deployed) => void): Deployed {
  const json = structuredClone(template.toJSON()) as { Resources: Deployed['resources'] };
  const d = deploy({ toJSON: () => json } as unknown as Template, env);
  edit(json.Resources, d);
  return d;
}
