/**
 * Every deployment environment of the broker, in one typed table. `npx cdk deploy -c env=<name>` deploys
 * stack `OAuthBroker-<name>` with the settings below; a name that is not here fails with the list of
 * known ones. To add an environment, add an entry: nothing else needs to change.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { isSigningAlgorithm, type SigningAlgorithm } from '../lib/keys/signer.js';

/** Powertools log levels (`POWERTOOLS_LOG_LEVEL`, and the Lambda application log level). */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface CustomDomainSettings {
  /** The callback's host name, e.g. `broker.example.com`. The stage is mapped at the root path. */
  readonly domainName: string;
  /** An ACM certificate for `domainName` in the stack's own region (a regional endpoint). */
  readonly certificateArn: string;
  /** When given, an alias A record for `domainName` is created in this public hosted zone. */
  readonly hostedZone?: { readonly hostedZoneId: string; readonly zoneName: string };
}

export interface ApiThrottling {
  /** Steady-state requests per second for the whole stage. */
  readonly rateLimit: number;
  readonly burstLimit: number;
  /** Tighter limits for the public `GET /callback` (a person's browser, a few times a day). */
  readonly callbackRateLimit: number;
  readonly callbackBurstLimit: number;
}

/**
 * Who may call a group of routes: IAM principal ARNs (roles, users; `*` allowed in the name part only,
 * e.g. `arn:aws:iam::111122223333:role/mes-*`) and/or AWS Organizations ids (`o-…`: any principal of that
 * organisation, `aws:PrincipalOrgID`). At least one entry.
 */
export interface PrincipalList {
  readonly arns?: readonly string[];
  readonly organizationIds?: readonly string[];
}

/**
 * One KMS key that signs `private_key_jwt` client assertions (docs/keys.md). The stack creates it, or uses
 * the key named by `keyArn`; either way it is listed in the functions' `BROKER_SIGNING_KEYS` and only the
 * functions that sign may `kms:Sign` with it, with its algorithm pinned.
 */
export interface SigningKeySettings {
  /** Stable name of the key in the stack (its construct id): never rename or reuse one, it would replace the key. */
  readonly name: string;
  readonly alg: SigningAlgorithm;
  /** KMS key spec of a created RSA key (RS256, PS256); default `RSA_2048`. ES256 keys are `ECC_NIST_P256`. */
  readonly rsaKeySpec?: 'RSA_2048' | 'RSA_3072' | 'RSA_4096';
  /** Use this existing key (a key ARN, not an alias) instead of creating one; its key policy must allow the broker's signing roles. */
  readonly keyArn?: string;
  /**
   * A key prepared for rotation: listed after the keys in use, so that it never becomes the first key of
   * its algorithm; `oauth-broker keys rotate` publishes it in the JWKS, `keys promote` makes it sign.
   */
  readonly next?: boolean;
}

/** Every environment signs with one created ES256 key unless it lists its own keys. */
export const DEFAULT_SIGNING_KEYS: readonly SigningKeySettings[] = [{ name: 'es256', alg: 'ES256' }];

export interface EnvironmentSettings {
  /** Lower-case name: stack `OAuthBroker-<name>`, API stage `<name>`, secrets under `<secretPrefix>/<name>/`. */
  readonly name: string;
  /** Pin the environment to one account and region; default: the CLI's current credentials and region. */
  readonly account?: string;
  readonly region?: string;
  /** Secrets are named `<secretPrefix>/<name>/<profileId>/{client-secret,token-set}`. */
  readonly secretPrefix: string;
  /** How often the scheduled refresh job runs (EventBridge `rate(n minutes)`). */
  readonly refreshIntervalMinutes: number;
  /** Refresh at least this long before a token expires; at least twice the interval (checked). */
  readonly refreshMarginSeconds: number;
  /** Retention of every log group of the stack (functions, API access and execution logs). */
  readonly logRetention: RetentionDays;
  /** Powertools / Lambda application log level. */
  readonly logLevel: LogLevel;
  /** API Gateway execution logging; data trace (full requests and responses) is always off. */
  readonly apiExecutionLogLevel: 'INFO' | 'ERROR';
  /**
   * `true` (prod): the table and the KMS key are retained when the stack is deleted, the table has
   * deletion protection and the stack has termination protection. `false` (dev): everything is destroyed.
   */
  readonly retainData: boolean;
  /** Alarm and profile-status notifications go to this address (a subscription to confirm) when set. */
  readonly alarmEmail?: string;
  /**
   * When set, an API resource policy lets only these principals call the signed routes, whatever their
   * own IAM policies say: `admin` for the administration routes, `token` for `GET /profiles/{id}/token`
   * (lib/routes.ts). List a principal in both to let it do both. The callback stays public.
   */
  readonly allowedPrincipals?: {
    readonly admin: PrincipalList;
    readonly token: PrincipalList;
  };
  /**
   * IAM role ARNs (exact, no wildcards) of the people who may read the broker's secrets through Secrets
   * Manager besides its own functions, e.g. a break-glass administrator role. The secrets key's policy
   * names only these and the functions' roles; everyone else in the account is refused `kms:Decrypt`.
   */
  readonly secretsAdminRoleArns?: readonly string[];
  /** A custom domain for the API, so that the callback URL registered at the servers is stable. */
  readonly customDomain?: CustomDomainSettings;
  readonly throttling: ApiThrottling;
  /**
   * API Gateway execution logging needs the account-wide (per region) "CloudWatch Logs role" setting.
   * `true` makes this stack create that role and set it; set `false` when the account already has one.
   */
  readonly manageApiGatewayAccountRole: boolean;
  /** Associate this regional AWS WAF web ACL with the API stage when set. */
  readonly webAclArn?: string;
  /**
   * The KMS keys of `private_key_jwt` (docs/keys.md); default {@link DEFAULT_SIGNING_KEYS}. `[]`: none,
   * and the broker refuses `private_key_jwt` profiles. To rotate: add a key with `next: true`, deploy,
   * `keys rotate`, `keys promote`; after `keys withdraw`, remove the old key and drop `next`.
   */
  readonly signingKeys?: readonly SigningKeySettings[];
}

export const environments = {
  dev: {
    name: 'dev',
    secretPrefix: 'oauth-broker',
    refreshIntervalMinutes: 5,
    refreshMarginSeconds: 600,
    logRetention: RetentionDays.TWO_WEEKS,
    logLevel: 'DEBUG',
    apiExecutionLogLevel: 'INFO',
    retainData: false,
    throttling: { rateLimit: 20, burstLimit: 40, callbackRateLimit: 2, callbackBurstLimit: 5 },
    manageApiGatewayAccountRole: true,
  },
  prod: {
    name: 'prod',
    secretPrefix: 'oauth-broker',
    refreshIntervalMinutes: 5,
    refreshMarginSeconds: 900,
    logRetention: RetentionDays.THREE_MONTHS,
    logLevel: 'INFO',
    apiExecutionLogLevel: 'ERROR',
    retainData: true,
    throttling: { rateLimit: 100, burstLimit: 200, callbackRateLimit: 5, callbackBurstLimit: 10 },
    manageApiGatewayAccountRole: true,
    // alarmEmail: 'mes-integration-oncall@example.com',
    // allowedPrincipals: {
    //   admin: { arns: ['arn:aws:iam::111122223333:role/broker-admin'] },
    //   token: { arns: ['arn:aws:iam::111122223333:role/mes-integration-*'], organizationIds: ['o-a1b2c3d4e5'] },
    // },
    // secretsAdminRoleArns: ['arn:aws:iam::111122223333:role/broker-break-glass'],
    // customDomain: { domainName: 'oauth-broker.example.com', certificateArn: 'arn:aws:acm:…', hostedZone: { hostedZoneId: 'Z…', zoneName: 'example.com' } },
  },
} as const satisfies Record<string, EnvironmentSettings>;

export type EnvironmentName = keyof typeof environments;

export const environmentNames = (): string[] => Object.keys(environments);

/**
 * The settings of environment `name`, checked. Throws for a missing or unknown name with the list of known
 * ones, and for settings that would deploy something broken.
 */
export function resolveEnvironment(
  name: unknown,
  table: Record<string, EnvironmentSettings> = environments,
): EnvironmentSettings {
  const known = Object.keys(table);
  if (typeof name !== 'string' || !Object.hasOwn(table, name)) {
    const given = typeof name === 'string' ? `Unknown environment "${name}"` : 'No environment given';
    throw new Error(`${given}. Known environments: ${known.join(', ')}. Use: npx cdk deploy -c env=<name>`);
  }
  const settings = table[name]!;
  validateEnvironment(settings, name);
  validateSecretPrefixes(table);
  return settings;
}

/** `<secretPrefix>/<name>/`: the folder of an environment's secrets. */
export const secretFolder = (settings: Pick<EnvironmentSettings, 'secretPrefix' | 'name'>): string => `${settings.secretPrefix}/${settings.name}/`;

/**
 * Throws when one environment's secrets folder lies inside another's (`a/dev/` and `a/dev/x/`): the outer
 * environment's grants (on `<folder>` followed by any profile id) would reach the inner one's secrets.
 */
export function validateSecretPrefixes(table: Record<string, EnvironmentSettings>): void {
  const entries = Object.entries(table).map(([key, s]) => [key, secretFolder(s)] as const);
  const problems: string[] = [];
  for (const [a, folderA] of entries) {
    for (const [b, folderB] of entries) {
      if (a !== b && folderB.startsWith(folderA)) {
        problems.push(
          `the secrets of "${b}" (${folderB}) lie inside those of "${a}" (${folderA}): "${a}"'s functions could read and delete them. Give one of them another secretPrefix or name.`,
        );
      }
    }
  }
  if (problems.length > 0) throw new Error(`Environments share secrets:\n- ${problems.join('\n- ')}`);
}

/** An IAM principal ARN with a 12-digit account; `*` and `?` allowed after the account only. */
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:(iam|sts)::(\d{12}):(role|user|assumed-role|federated-user)\/\S+$/;
const EXACT_ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
const ORGANIZATION_ID = /^o-[a-z0-9]{10,32}$/;

function principalListProblems(list: PrincipalList | undefined, field: string): string[] {
  if (list === undefined) return [`${field} is missing: list the ARNs (or organisation ids) that may call these routes`];
  const problems: string[] = [];
  const arns = list.arns ?? [];
  const organizationIds = list.organizationIds ?? [];
  if (arns.length + organizationIds.length === 0) {
    problems.push(`${field} lists nobody: give at least one ARN in arns or one organisation id in organizationIds`);
  }
  for (const arn of arns) {
    const match = /^arn:[^:]*:[^:]*:[^:]*:([^:]*):/.exec(arn);
    if (arn.trim() === '*' || (match && match[1] !== undefined && /[*?]/.test(match[1]))) {
      problems.push(
        `${field}.arns: "${arn}" has a wildcard account: it would open these routes to principals of any AWS account. Name the 12-digit account (arn:aws:iam::111122223333:role/<name>), or list the organisation in organizationIds.`,
      );
    } else if (match && match[1] === '') {
      problems.push(`${field}.arns: "${arn}" has no account id: write arn:aws:iam::<12-digit account>:role/<name>.`);
    } else if (!PRINCIPAL_ARN.test(arn)) {
      problems.push(`${field}.arns: "${arn}" is not an IAM principal ARN like arn:aws:iam::111122223333:role/<name>.`);
    }
  }
  for (const id of organizationIds) {
    if (!ORGANIZATION_ID.test(id)) problems.push(`${field}.organizationIds: "${id}" is not an AWS Organizations id like o-a1b2c3d4e5.`);
  }
  return problems;
}

/** Throws an `Error` naming every problem in `settings`. */
export function validateEnvironment(settings: EnvironmentSettings, key: string = settings.name): void {
  const problems: string[] = [];
  if (settings.name !== key) problems.push(`name "${settings.name}" differs from its key "${key}"`);
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(settings.name)) {
    problems.push('name must be 1-20 lower-case letters, digits or "-", starting with a letter (it is the API stage name)');
  }
  if (!/^[A-Za-z0-9_+=.@-]+(\/[A-Za-z0-9_+=.@-]+)*$/.test(settings.secretPrefix)) {
    problems.push('secretPrefix must be Secrets Manager name characters separated by "/", without a leading or trailing "/"');
  }
  const interval = settings.refreshIntervalMinutes;
  if (!Number.isInteger(interval) || interval < 1 || interval > 60) {
    problems.push('refreshIntervalMinutes must be an integer from 1 to 60');
  }
  if (!Number.isInteger(settings.refreshMarginSeconds) || settings.refreshMarginSeconds < 2 * interval * 60) {
    problems.push(`refreshMarginSeconds must be at least twice the refresh interval (${2 * interval * 60} s)`);
  }
  const t = settings.throttling;
  for (const [field, value] of Object.entries(t)) {
    if (!(typeof value === 'number' && value > 0)) problems.push(`throttling.${field} must be a positive number`);
  }
  if (t.callbackRateLimit > t.rateLimit || t.callbackBurstLimit > t.burstLimit) {
    problems.push('the callback throttling limits must not exceed the stage limits');
  }
  if (settings.alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(settings.alarmEmail)) {
    problems.push('alarmEmail is not an e-mail address');
  }
  if (settings.allowedPrincipals !== undefined) {
    for (const group of ['admin', 'token'] as const) {
      problems.push(...principalListProblems(settings.allowedPrincipals[group], `allowedPrincipals.${group}`));
    }
  }
  for (const arn of settings.secretsAdminRoleArns ?? []) {
    if (!EXACT_ROLE_ARN.test(arn)) {
      problems.push(
        `secretsAdminRoleArns: "${arn}" is not an exact IAM role ARN: write arn:aws:iam::<12-digit account>:role/<name>, without wildcards (the KMS key policy names each role)`,
      );
    }
  }
  if (settings.customDomain !== undefined) {
    const { domainName, certificateArn } = settings.customDomain;
    if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domainName)) {
      problems.push(`customDomain.domainName "${domainName}" is not a lower-case DNS name`);
    }
    if (!/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/\S+$/.test(certificateArn)) {
      problems.push('customDomain.certificateArn is not an ACM certificate ARN');
    }
  }
  if (settings.webAclArn !== undefined && !/^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\/\S+$/.test(settings.webAclArn)) {
    problems.push('webAclArn is not a regional WAFv2 web ACL ARN');
  }
  problems.push(...signingKeyProblems(settings));
  if (problems.length > 0) {
    throw new Error(`Environment "${key}" is misconfigured:\n- ${problems.join('\n- ')}`);
  }
}

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/[A-Za-z0-9-]+$/;

/** The environment's signing keys: `signingKeys`, or the default one ES256 key. */
export const signingKeysOf = (settings: EnvironmentSettings): readonly SigningKeySettings[] => settings.signingKeys ?? DEFAULT_SIGNING_KEYS;

function signingKeyProblems(settings: EnvironmentSettings): string[] {
  const problems: string[] = [];
  const keys = signingKeysOf(settings);
  const seen = new Set<string>();
  for (const [i, key] of keys.entries()) {
    const where = `signingKeys[${i}]`;
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(key.name)) problems.push(`${where}.name "${key.name}" must be 1-32 lower-case letters, digits or "-", starting with a letter`);
    if (seen.has(key.name)) problems.push(`${where}.name "${key.name}" is used twice: each key needs its own name`);
    seen.add(key.name);
    if (!isSigningAlgorithm(key.alg)) problems.push(`${where}.alg must be ES256, RS256 or PS256`);
    if (key.rsaKeySpec !== undefined && key.alg === 'ES256') problems.push(`${where}.rsaKeySpec is for RS256 and PS256 keys; an ES256 key is ECC_NIST_P256`);
    if (key.keyArn !== undefined) {
      const m = KMS_KEY_ARN.exec(key.keyArn);
      if (!m) {
        problems.push(`${where}.keyArn "${key.keyArn}" is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>; an alias cannot be granted kms:Sign by key id)`);
      } else if ((settings.region && m[1] !== settings.region) || (settings.account && m[2] !== settings.account)) {
        problems.push(`${where}.keyArn is in ${m[1]}/${m[2]}, not in the environment's ${settings.region ?? 'region'}/${settings.account ?? 'account'}`);
      }
    }
  }
  const arns = keys.flatMap((key) => (key.keyArn ? [key.keyArn] : []));
  const twice = arns.find((arn, i) => arns.indexOf(arn) !== i);
  if (twice) problems.push(`signingKeys lists the key ${twice} twice: one key, one algorithm`);
  return problems;
}
