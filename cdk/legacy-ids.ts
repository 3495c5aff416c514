/**
 * The CloudFormation logical IDs of environments deployed before the stack was split into one construct
 * per concern (the stack of commit dbdeb3f). It owns the table of construct paths, new → as they were
 * then, and the logical ID of each CfnElement computed from that legacy path, exactly as CDK computed it.
 *
 * Why: a logical ID is a resource's identity to CloudFormation. With the new paths, `cdk deploy` on such an
 * environment would create a new, empty table (prod retains and orphans the old one), a second secrets key
 * whose alias collides with the old one's name (the update fails), a new REST API (a new API id: a new
 * callback URL, and every redirect URI registered at the authorization servers breaks), a new alarm topic
 * (its e-mail subscription lost), a new failure queue. Whole subtrees keep their old IDs, not a few
 * resources: CloudFormation would otherwise create the new children (gateway responses, the stage, the
 * execution-log group named after the API id) before deleting the old ones, which for upsert-style or
 * fixed-name resources breaks or fails.
 *
 * Resources added since the split (the signing keys, their functions and routes, the status rules' roles)
 * have no old ID to keep: outside the table (`SigningKeys/…`) they keep CDK's default; inside a mapped
 * subtree they get the ID the legacy path gives them, as stable as any other.
 */
import { Names, type CfnElement, type Stack } from 'aws-cdk-lib';
import { Construct, type IConstruct } from 'constructs';

/**
 * Stack-relative construct path prefixes: today's → before the split. The first match wins, so a longer
 * prefix comes before a shorter one of the same construct.
 */
export const LEGACY_PATH_PREFIXES: readonly (readonly [current: string, legacy: string])[] = [
  // The table and the secrets key (with its alias) were children of the stack.
  ['Data', ''],
  // The RestApi and everything under it: stage, deployment, account and CloudWatch role, resources,
  // methods, their Lambda permissions, gateway responses, validator, model, custom domain.
  ['Api/Api', 'Api'],
  ['Api/AccessLogs', 'ApiAccessLogs'],
  ['Api/ExecutionLogs', 'ApiExecutionLogs'],
  // WebAclAssociation, CustomDomainRecord.
  ['Api', ''],
  // Each function with its role, its role's policy and its log group (Profiles, ProfilesRole, ProfilesLogs, …).
  ['Functions', ''],
  ['Schedule/Rule', 'RefreshSchedule'],
  ['Schedule/Failures', 'RefreshFailures'],
  // The alarm topic and its key, the status rules and the alarms.
  ['Monitoring', ''],
];

const RULES = LEGACY_PATH_PREFIXES.map(([current, legacy]) => [split(current), split(legacy)] as const);

function split(path: string): string[] {
  return path === '' ? [] : path.split('/');
}

/** The stack-relative path `components` as it was before the split (itself outside the mapped subtrees). */
export function legacyPath(components: readonly string[]): readonly string[] {
  for (const [current, legacy] of RULES) {
    if (current.every((id, i) => components[i] === id)) return [...legacy, ...components.slice(current.length)];
  }
  return components;
}

/**
 * CDK's unique ID of a construct path (what `Stack.allocateLogicalId` and `Names.nodeUniqueId` compute:
 * the human-readable ids followed by a hash of the path), obtained from CDK itself on a detached tree
 * rather than re-implemented.
 */
function uniqueIdOf(components: readonly string[]): string {
  let scope = new Construct(undefined as unknown as Construct, '');
  for (const id of components) scope = new Construct(scope, id);
  return Names.nodeUniqueId(scope.node);
}

interface StackCache {
  /** Legacy path (joined) → its unique ID. */
  readonly ids: Map<string, string>;
  /** Construct id → the same id with embedded unique ids made legacy. */
  readonly components: Map<string, string>;
}

const caches = new WeakMap<Stack, StackCache>();

function cacheOf(stack: Stack): StackCache {
  let cache = caches.get(stack);
  if (!cache) caches.set(stack, (cache = { ids: new Map(), components: new Map() }));
  return cache;
}

function relativePath(stack: Stack, construct: IConstruct): string[] {
  const scopes = construct.node.scopes;
  return scopes.slice(scopes.indexOf(stack) + 1).map((s) => s.node.id);
}

/**
 * Some construct ids embed another construct's unique ID (`Names.nodeUniqueId`, which starts at the app):
 * a method's Lambda permission names the RestApi (`ApiPermission.<api>.GET..callback`), a rule target's
 * permission the function (`AllowEventRule<function>`), a base path mapping the RestApi. Those embed the
 * legacy unique ID too. Memoised per id: an id embeds a construct that existed when it was made, and
 * construct paths never change.
 */
function legacyComponent(stack: Stack, id: string): string {
  const { components } = cacheOf(stack);
  let legacy = components.get(id);
  if (legacy === undefined) {
    legacy = id;
    // Every unique ID of a nested construct ends in 8 upper-case hex digits (its path hash).
    if (!/[0-9A-F]{8}/.test(id)) {
      components.set(id, id);
      return id;
    }
    const stackPath = stack.node.scopes.slice(1).map((s) => s.node.id);
    for (const construct of stack.node.findAll()) {
      if (construct === stack) continue;
      const path = relativePath(stack, construct);
      const old = legacyPath(path);
      if (old === path) continue;
      const current = Names.nodeUniqueId(construct.node);
      if (legacy.includes(current)) legacy = legacy.replace(current, uniqueIdOf([...stackPath, ...old]));
    }
    components.set(id, legacy);
  }
  return legacy;
}

/** The logical ID `element` had in the stack before the split (CDK's default for elements outside the table). */
export function legacyLogicalId(stack: Stack, element: CfnElement): string {
  const path = legacyPath(relativePath(stack, element)).map((id) => legacyComponent(stack, id));
  const { ids } = cacheOf(stack);
  const key = path.join('/');
  let logicalId = ids.get(key);
  if (logicalId === undefined) ids.set(key, (logicalId = uniqueIdOf(path)));
  return logicalId;
}
