/**
 * `oauth-broker doctor`: checks a deployed environment with the operator's AWS credentials and reports
 * ✓/✗ per check (docs/doctor.md). It reads the stack's outputs, asks IAM's own policy simulator whether
 * each function's role may make every AWS call its code sends (lib/functions.ts, the same table the stack
 * and its policy tests use), and makes a few read-only calls: the alarm topic's subscriptions, the refresh
 * schedule, the table's backups and deletion protection, the secrets key's rotation, and an unsigned GET
 * of the callback URL. Nothing is changed. The AWS SDK clients are imported on first use.
 */
import { awsRequests, functionKeys, type AwsRequest, type FunctionKey, type Placement } from '../functions.js';
import { STACK_OUTPUTS } from '../stack-outputs.js';
import type { AwsCredentials, AwsCredentialsProvider } from '../sdk/signing.js';
import type { FetchLike } from '../sdk/transport.js';

export interface Check {
  /** What was checked, e.g. `token role: the calls its code sends`. */
  readonly check: string;
  readonly ok: boolean;
  /** What was found. */
  readonly detail: string;
  /** What to do about a ✗. */
  readonly hint?: string;
}

export interface DoctorOptions {
  readonly stackName: string;
  readonly region: string;
  readonly credentials?: AwsCredentials | AwsCredentialsProvider | undefined;
  /** For the unsigned GET of the callback. Default: `globalThis.fetch`. */
  readonly fetch?: FetchLike | undefined;
}

/** The outputs of the broker stack doctor needs (lib/stack-outputs.ts). */
const REQUIRED_OUTPUTS = (['callbackUrl', 'tableName', 'secretsKeyArn', 'secretNamePrefix', 'alarmTopicArn', 'refreshScheduleRuleName', 'functionRoleArns'] as const).map(
  (key) => STACK_OUTPUTS[key],
);

type Clients = Awaited<ReturnType<typeof loadClients>>;

/** The SDK clients, imported on first use: the other commands never load them. */
async function loadClients(options: DoctorOptions) {
  const [cfn, iam, sns, events, ddb, kms] = await Promise.all([
    import('@aws-sdk/client-cloudformation'),
    import('@aws-sdk/client-iam'),
    import('@aws-sdk/client-sns'),
    import('@aws-sdk/client-eventbridge'),
    import('@aws-sdk/client-dynamodb'),
    import('@aws-sdk/client-kms'),
  ]);
  const config = { region: options.region, ...(options.credentials ? { credentials: options.credentials } : {}) };
  return {
    cfn: { client: new cfn.CloudFormationClient(config), DescribeStacksCommand: cfn.DescribeStacksCommand },
    iam: { client: new iam.IAMClient(config), SimulatePrincipalPolicyCommand: iam.SimulatePrincipalPolicyCommand },
    sns: { client: new sns.SNSClient(config), ListSubscriptionsByTopicCommand: sns.ListSubscriptionsByTopicCommand },
    events: { client: new events.EventBridgeClient(config), DescribeRuleCommand: events.DescribeRuleCommand },
    ddb: {
      client: new ddb.DynamoDBClient(config),
      DescribeTableCommand: ddb.DescribeTableCommand,
      DescribeContinuousBackupsCommand: ddb.DescribeContinuousBackupsCommand,
    },
    kms: { client: new kms.KMSClient(config), GetKeyRotationStatusCommand: kms.GetKeyRotationStatusCommand, GetKeyPolicyCommand: kms.GetKeyPolicyCommand },
  };
}

const ok = (check: string, detail: string): Check => ({ check, ok: true, detail });
const failed = (check: string, detail: string, hint?: string): Check => ({ check, ok: false, detail, ...(hint ? { hint } : {}) });
const messageOf = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/** Runs every check; a check that cannot be made (an AWS error) is a ✗ saying why. */
export async function runDoctor(options: DoctorOptions): Promise<Check[]> {
  const aws = await loadClients(options);
  const stack = await readStack(aws, options.stackName);
  if ('check' in stack) return [stack];
  const { outputs, retainsData } = stack;
  const checks: Check[] = [ok(`stack ${options.stackName}`, `found in ${options.region}`)];
  const roles = parseRoleArns(outputs[STACK_OUTPUTS.functionRoleArns]!);
  const account = /^arn:[^:]+:iam::(\d{12}):/.exec(Object.values(roles)[0] ?? '')?.[1] ?? '';
  const signingKeyArns = outputs[STACK_OUTPUTS.signingKeys];
  const place: Placement = {
    partition: /^arn:([^:]+):/.exec(outputs[STACK_OUTPUTS.secretsKeyArn]!)?.[1] ?? 'aws',
    region: options.region,
    account,
    tableName: outputs[STACK_OUTPUTS.tableName]!,
    secretNamePrefix: outputs[STACK_OUTPUTS.secretNamePrefix]!,
    secretsKeyArn: outputs[STACK_OUTPUTS.secretsKeyArn]!,
    // Stacks before private_key_jwt have no SigningKeyArns output: their roles are checked without signing.
    ...(signingKeyArns && signingKeyArns !== 'none' ? { signingKeys: await signingKeysOf(signingKeyArns) } : {}),
  };
  // Each KMS request is simulated with its key's own policy: the secrets key's, or a signing key's.
  const keyPolicies: Record<string, string | undefined> = {};
  for (const keyArn of [place.secretsKeyArn, ...(place.signingKeys ?? []).map((k) => k.keyArn)]) {
    keyPolicies[keyArn] = (await guard(() => aws.kms.client.send(new aws.kms.GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' })))).value?.Policy;
  }
  for (const key of functionKeys()) {
    checks.push(await roleCheck(aws, key, roles[key], place, keyPolicies));
  }
  checks.push(
    await subscriptionsCheck(aws, outputs[STACK_OUTPUTS.alarmTopicArn]!),
    await scheduleCheck(aws, outputs[STACK_OUTPUTS.refreshScheduleRuleName]!),
    ...(await tableChecks(aws, outputs[STACK_OUTPUTS.tableName]!, retainsData)),
    await rotationCheck(aws, place.secretsKeyArn),
    await callbackCheck(options.fetch ?? globalThis.fetch, outputs[STACK_OUTPUTS.callbackUrl]!),
  );
  return checks;
}

async function guard<T>(run: () => Promise<T>): Promise<{ value?: T; error?: string }> {
  try {
    return { value: await run() };
  } catch (error) {
    return { error: messageOf(error) };
  }
}

async function readStack(aws: Clients, stackName: string): Promise<{ outputs: Record<string, string>; retainsData: boolean } | Check> {
  const title = `stack ${stackName}`;
  const read = await guard(() => aws.cfn.client.send(new aws.cfn.DescribeStacksCommand({ StackName: stackName })));
  if (read.error !== undefined) {
    return failed(title, read.error, `Is it deployed in this account and region? Deploy it with: npx cdk deploy -c env=<name> (or pass --stack and --region).`);
  }
  const stack = read.value?.Stacks?.[0];
  if (!stack) return failed(title, 'not found', 'Deploy it with: npx cdk deploy -c env=<name>');
  const outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  const missing = REQUIRED_OUTPUTS.filter((key) => !outputs[key]);
  if (missing.length > 0) {
    return failed(title, `has no output ${missing.join(', ')}`, 'It was deployed by an older version of oauth-broker: run npx cdk deploy again.');
  }
  return { outputs, retainsData: stack.EnableTerminationProtection === true };
}

/** The `SigningKeyArns` output (`BROKER_SIGNING_KEYS`), each key with the KMS algorithm its grant pins. */
async function signingKeysOf(value: string): Promise<Placement['signingKeys']> {
  const [{ parseSigningKeys }, { KMS_SIGNING_ALGORITHMS }] = await Promise.all([import('../keys/kms-keys.js'), import('../adapters/kms-signer.js')]);
  return parseSigningKeys(value).map((k) => ({ keyArn: k.keyArn, signingAlgorithm: KMS_SIGNING_ALGORITHMS[k.alg] }));
}

/** `profiles=arn:…,token=arn:…` → by function. */
export function parseRoleArns(value: string): Partial<Record<FunctionKey, string>> {
  const out: Partial<Record<FunctionKey, string>> = {};
  for (const pair of value.split(',')) {
    const at = pair.indexOf('=');
    if (at > 0) out[pair.slice(0, at).trim() as FunctionKey] = pair.slice(at + 1).trim();
  }
  return out;
}

/** IAM's simulator on the role, one request per resource and context, the key policy with the KMS ones. */
async function roleCheck(aws: Clients, key: FunctionKey, roleArn: string | undefined, place: Placement, keyPolicies: Record<string, string | undefined>): Promise<Check> {
  const title = `${key} role: the AWS calls its code sends`;
  if (!roleArn) return failed(title, 'the stack names no role for this function', 'Redeploy the stack with this version of oauth-broker.');
  const requests = awsRequests(key, place, 'doctor-probe', 'doctor');
  const refused: string[] = [];
  for (const request of requests) {
    const keyPolicy = request.keyPolicy ? keyPolicies[request.resource] : undefined;
    const answer = await guard(() =>
      aws.iam.client.send(
        new aws.iam.SimulatePrincipalPolicyCommand({
          PolicySourceArn: roleArn,
          ActionNames: [request.action],
          ResourceArns: [request.resource],
          // The key policy names the roles by aws:PrincipalArn: the simulator is told who asks.
          ContextEntries: [...contextEntries(request), { ContextKeyName: 'aws:PrincipalArn', ContextKeyValues: [roleArn], ContextKeyType: 'string' }],
          ...(keyPolicy ? { ResourcePolicy: keyPolicy, ResourceOwner: `arn:${place.partition}:iam::${place.account}:root` } : {}),
        }),
      ),
    );
    if (answer.error !== undefined) return failed(title, `could not simulate ${request.action}: ${answer.error}`, 'The operator needs iam:SimulatePrincipalPolicy (and kms:GetKeyPolicy).');
    const decisions = answer.value?.EvaluationResults ?? [];
    if (decisions.length === 0 || decisions.some((d) => d.EvalDecision !== 'allowed')) refused.push(`${request.label} (${decisions[0]?.EvalDecision ?? 'no answer'})`);
  }
  if (refused.length > 0) {
    return failed(title, `refused: ${refused.join('; ')}`, 'Redeploy the stack (npx cdk deploy); if it persists, an SCP or permissions boundary may deny it.');
  }
  return ok(title, `${requests.length} requests allowed`);
}

function contextEntries(request: AwsRequest) {
  return Object.entries(request.context).map(([name, value]) => ({
    ContextKeyName: name,
    ContextKeyValues: typeof value === 'string' ? [value] : [...value],
    ContextKeyType: typeof value === 'string' ? ('string' as const) : ('stringList' as const),
  }));
}

async function subscriptionsCheck(aws: Clients, topicArn: string): Promise<Check> {
  const title = 'alarm topic: someone receives the alarms';
  const answer = await guard(() => aws.sns.client.send(new aws.sns.ListSubscriptionsByTopicCommand({ TopicArn: topicArn })));
  if (answer.error !== undefined) return failed(title, answer.error);
  const subscriptions = answer.value?.Subscriptions ?? [];
  const pending = subscriptions.filter((s) => s.SubscriptionArn === 'PendingConfirmation');
  const confirmed = subscriptions.length - pending.length;
  const summary = `${confirmed} confirmed, ${pending.length} pending`;
  if (confirmed > 0) return ok(title, summary);
  if (pending.length > 0) {
    return failed(title, summary, `Confirm the subscription of ${pending.map((s) => s.Endpoint).join(', ')} from the e-mail AWS sent ("AWS Notification - Subscription Confirmation").`);
  }
  return failed(
    title,
    'no subscription: alarms reach nobody',
    `Set alarmEmail in cdk/environments.ts and redeploy, or subscribe: aws sns subscribe --topic-arn ${topicArn} --protocol email --notification-endpoint <address>`,
  );
}

async function scheduleCheck(aws: Clients, ruleName: string): Promise<Check> {
  const title = 'refresh schedule: enabled';
  const answer = await guard(() => aws.events.client.send(new aws.events.DescribeRuleCommand({ Name: ruleName })));
  if (answer.error !== undefined) return failed(title, answer.error);
  const state = answer.value?.State ?? 'unknown';
  return state === 'ENABLED'
    ? ok(title, `${ruleName}: ${answer.value?.ScheduleExpression ?? ''}`.trim())
    : failed(title, `${ruleName} is ${state}: tokens are refreshed only on demand`, `Enable it: aws events enable-rule --name ${ruleName}`);
}

async function tableChecks(aws: Clients, tableName: string, retainsData: boolean): Promise<Check[]> {
  const pitrTitle = 'table: point-in-time recovery';
  const protectionTitle = 'table: deletion protection';
  const [backups, table] = await Promise.all([
    guard(() => aws.ddb.client.send(new aws.ddb.DescribeContinuousBackupsCommand({ TableName: tableName }))),
    guard(() => aws.ddb.client.send(new aws.ddb.DescribeTableCommand({ TableName: tableName }))),
  ]);
  const pitr = backups.value?.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus;
  const protectedNow = table.value?.Table?.DeletionProtectionEnabled === true;
  return [
    backups.error !== undefined
      ? failed(pitrTitle, backups.error)
      : pitr === 'ENABLED'
        ? ok(pitrTitle, 'enabled')
        : failed(pitrTitle, `${pitr ?? 'unknown'}`, `Enable it: aws dynamodb update-continuous-backups --table-name ${tableName} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true`),
    table.error !== undefined
      ? failed(protectionTitle, table.error)
      : protectedNow === retainsData
        ? ok(protectionTitle, protectedNow ? 'on' : 'off, as this environment does not retain its data (retainData: false)')
        : failed(
            protectionTitle,
            protectedNow ? 'on, but the stack is not termination-protected' : 'off, although this environment retains its data',
            'Redeploy the stack (npx cdk deploy) so that the table matches retainData in cdk/environments.ts.',
          ),
  ];
}

async function rotationCheck(aws: Clients, keyArn: string): Promise<Check> {
  const title = 'secrets key: automatic rotation';
  const answer = await guard(() => aws.kms.client.send(new aws.kms.GetKeyRotationStatusCommand({ KeyId: keyArn })));
  if (answer.error !== undefined) return failed(title, answer.error, 'The operator needs kms:GetKeyRotationStatus on the key (the key policy gives it to the account).');
  return answer.value?.KeyRotationEnabled
    ? ok(title, `enabled${answer.value.RotationPeriodInDays ? `, every ${answer.value.RotationPeriodInDays} days` : ''}`)
    : failed(title, 'disabled', `Enable it: aws kms enable-key-rotation --key-id ${keyArn}`);
}

/** An unsigned GET of the callback without parameters must answer the broker's own 400 HTML page. */
async function callbackCheck(fetchFn: FetchLike, callbackUrl: string): Promise<Check> {
  const title = 'callback URL: reachable';
  let response: Response;
  try {
    response = (await fetchFn(callbackUrl, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(10_000) })) as Response;
  } catch (error) {
    return failed(title, `${callbackUrl}: ${messageOf(error)}`, 'Check DNS and the custom domain (customDomain in cdk/environments.ts), or a WAF rule blocking it.');
  }
  const type = response.headers.get('content-type') ?? '';
  if (response.status === 400 && type.startsWith('text/html')) return ok(title, `${callbackUrl} answers its error page (400) without parameters`);
  return failed(
    title,
    `${callbackUrl} answered ${response.status} ${type || 'without a content type'}, not the broker's 400 page`,
    response.status === 403 ? 'A WAF web ACL or the API resource policy refuses it: the callback must stay public.' : 'Check that the stage is deployed and the URL registered at the servers is this one.',
  );
}

/** The report as lines for a person: `✓ check: detail`, and for a ✗ its hint below. */
export function formatChecks(checks: readonly Check[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.ok ? '✓' : '✗'} ${c.check}: ${c.detail}`);
    if (!c.ok && c.hint) lines.push(`    ${c.hint}`);
  }
  const bad = checks.filter((c) => !c.ok).length;
  lines.push(bad === 0 ? `All ${checks.length} checks passed.` : `${bad} of ${checks.length} checks failed.`);
  return `${lines.join('\n')}\n`;
}
