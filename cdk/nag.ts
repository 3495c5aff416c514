/**
 * cdk-nag 3 glue. cdk-nag 3 is a CDK policy-validation plugin: findings are reported by the validation
 * step of synthesis (and by `NagPack.validateScope`), not as annotations, and a finding is accepted with
 * `Validations.of(construct).acknowledge({ id, reason })` (cdk-nag 3 has no `NagSuppressions`). A
 * granular finding (one wildcard resource of `AwsSolutions-IAM5`, one managed policy of `AwsSolutions-IAM4`)
 * is acknowledged as `RuleId[Finding]`, so that any other wildcard on the same resource is still reported.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges rule `id` on `scope` and everything under it. With `appliesTo`, only those findings of the
 * rule (e.g. `Resource::arn:…/*`) are acknowledged, each as `id[finding]`.
 */
export function acknowledge(scope: IConstruct, id: string, reason: string, appliesTo?: readonly string[]): void {
  if (reason.trim().length < 20) throw new Error(`acknowledging ${id}: give a real reason`);
  if (appliesTo === undefined) {
    Validations.of(scope).acknowledge({ id, reason });
    return;
  }
  for (const finding of appliesTo) Validations.of(scope).acknowledge({ id: `${id}[${finding}]`, reason });
}

/**
 * The finding text cdk-nag reports for a wildcard IAM resource: the resolved value flattened the way
 * cdk-nag flattens it (`Fn::Join` joined, `Ref` → `<Id>`, `Fn::GetAtt` → `<Id.Attr>`), prefixed `Resource::`.
 */
export function resourceFinding(scope: IConstruct, value: string): string {
  return `Resource::${flatten(Stack.of(scope).resolve(value))}`;
}

export function managedPolicyFinding(policyName: string): string {
  return `Policy::arn:<AWS::Partition>:iam::aws:policy/${policyName}`;
}

function flatten(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof node === 'object' && node !== null) {
    const o = node as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if (o['Fn::Sub'] !== undefined) return flatten(o['Fn::Sub']);
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(resource)}.${flatten(attribute)}>`;
    }
    if (o['Fn::ImportValue'] !== undefined) return flatten(o['Fn::ImportValue']);
    if (o.Ref !== undefined) return `<${flatten(o.Ref)}>`;
  }
  return JSON.stringify(node);
}
