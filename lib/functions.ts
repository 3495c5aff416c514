/**
 * The broker's Lambda functions, in one table: for each, its entry file under `lambdas/`, its size and
 * time limit, and every AWS call its code can send, with the resources it sends it to. The stack
 * (`cdk/`) builds each function and its IAM role from this table and nothing else, the policy-engine
 * tests evaluate the synthesized roles against it, and `oauth-broker doctor` asks IAM's own simulator
 * about the same calls on a deployed environment (docs/doctor.md). A test checks that the calls listed
 * here are exactly the `new XxxCommand(` call sites of the code the functions bundle.
 *
 * No AWS CDK import here: the CLI (`doctor`) reads this module too.
 */
import { EVENT_SOURCE, SIGNING_KEY_CHANGED_DETAIL_TYPE, STATUS_CHANGED_DETAIL_TYPE } from './event-names.js';

/**
 * Table items by the leading key (`pk`) prefix the DynamoDB adapters write (`dynamodb:LeadingKeys`):
 * a profile is `PROFILE#<id>`, a pending authorization `STATE#<sha-256 of state>`, and the signing keys'
 * ring the one item `KEYRING` (lib/keys/dynamodb-key-ring-store.ts).
 */
export const ITEM_KEY_PREFIXES = { profile: 'PROFILE#', pending: 'STATE#', keyRing: 'KEYRING' } as const;
export type ItemKind = keyof typeof ITEM_KEY_PREFIXES;

/** The `dynamodb:LeadingKeys` pattern of an item kind: any id after the prefix; the key ring exactly. */
export const itemKeyPattern = (kind: ItemKind): string => (kind === 'keyRing' ? ITEM_KEY_PREFIXES.keyRing : `${ITEM_KEY_PREFIXES[kind]}*`);

/**
 * The KMS calls on the signing keys of `private_key_jwt` (docs/keys.md): `kms:Sign` for client assertions
 * and a new key's certificate, `kms:GetPublicKey` when a key enters the ring.
 */
export type SigningKeyAction = 'kms:Sign' | 'kms:GetPublicKey';

/** The two secrets of a profile, `<secretPrefix>/<env>/<profileId>/<kind>`. */
export type SecretKind = 'client-secret' | 'token-set';

export type ItemAction = 'dynamodb:GetItem' | 'dynamodb:PutItem' | 'dynamodb:UpdateItem' | 'dynamodb:DeleteItem';
export type SecretAction =
  | 'secretsmanager:GetSecretValue'
  | 'secretsmanager:PutSecretValue'
  | 'secretsmanager:CreateSecret'
  | 'secretsmanager:DeleteSecret';

/**
 * What a function's code may send, and to what. `CreateSecret` implies `secretsmanager:TagResource`
 * (secrets are created tagged with the profile id), and every Secrets Manager call implies its KMS call
 * through Secrets Manager (`kms:Decrypt` to read, `kms:GenerateDataKey` to write); the stack grants those
 * with it.
 */
export interface AwsCalls {
  readonly items?: Partial<Record<ItemAction, readonly ItemKind[]>>;
  /** `dynamodb:Query` on these indexes (no function queries the table itself). */
  readonly queryIndexes?: readonly ('gsi1' | 'due')[];
  readonly secrets?: Partial<Record<SecretAction, readonly SecretKind[]>>;
  /** `events:PutEvents` of `Profile Status Changed` (and, with `signingKeys`, `Signing Key Changed`) on the default bus. */
  readonly putEvents?: boolean;
  /** KMS calls on the environment's signing keys (the keys of `BROKER_SIGNING_KEYS`). */
  readonly signingKeys?: readonly SigningKeyAction[];
}

export interface FunctionSpec {
  /** Entry file under `lambdas/`; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  /** Seconds; `'api'`: API Gateway's integration limit (29 s); `'schedule'`: ends before the next scheduled run. */
  readonly timeout: number | 'api' | 'schedule';
  /** 1 for the scheduled job: overlapping runs would multiply the Secrets Manager write rate (docs/design.md). */
  readonly reservedConcurrency?: number;
  readonly calls: AwsCalls;
}

/** Every item a use case about profiles may touch, both kinds. */
const ANY_ITEM: readonly ItemKind[] = ['profile', 'pending'];
const BOTH_SECRETS: readonly SecretKind[] = ['client-secret', 'token-set'];

/**
 * A function that talks to token or revocation endpoints signs `private_key_jwt` client assertions
 * (docs/keys.md "Which functions sign"): it reads the key ring (`KEYRING`), and when the ring has no key
 * for the profile's algorithm yet it takes the first configured one (`GetPublicKey`, a certificate signed
 * with `Sign`, the ring written with `PutItem`, `Signing Key Changed` events).
 */
const SIGNS: readonly SigningKeyAction[] = ['kms:GetPublicKey', 'kms:Sign'];

/**
 * A refresh under the lease (the token function inline, the scheduled job for due profiles): read the
 * profile and both secrets, write the token set (creating it for a client-credentials profile's first
 * one), record the outcome, and delete the token set it re-created when the profile was deleted meanwhile
 * (never a client secret: only the profiles function writes or deletes those).
 */
const REFRESH_CALLS: AwsCalls = {
  items: { 'dynamodb:GetItem': ['profile', 'keyRing'], 'dynamodb:PutItem': ['keyRing'], 'dynamodb:UpdateItem': ['profile'] },
  secrets: {
    'secretsmanager:GetSecretValue': BOTH_SECRETS,
    'secretsmanager:PutSecretValue': ['token-set'],
    'secretsmanager:CreateSecret': ['token-set'],
    'secretsmanager:DeleteSecret': ['token-set'],
  },
  putEvents: true,
  signingKeys: SIGNS,
};

/** One entry per function: adding a function is adding an entry (and its route in lib/routes.ts). */
const FUNCTION_TABLE = {
  // Listing profiles and deleting a profile's pending authorizations query `gsi1`; DELETE removes the
  // profile, its pending authorizations (by key) and both secrets; PUT writes the client secret;
  // POST /refresh and revocation read the token set, and a refresh writes one (a client-credentials
  // profile's first one included).
  profiles: {
    entry: 'profiles.ts',
    description: 'PUT/GET/DELETE /profiles/{id}, GET /profiles, POST /profiles/{id}/refresh',
    memorySize: 512,
    // Discovery, a refresh or a revocation: a few bounded calls to the authorization server.
    timeout: 25,
    calls: {
      items: {
        'dynamodb:GetItem': ['profile', 'keyRing'],
        'dynamodb:PutItem': ['profile', 'keyRing'],
        'dynamodb:UpdateItem': ['profile'],
        'dynamodb:DeleteItem': ANY_ITEM,
      },
      queryIndexes: ['gsi1'],
      secrets: {
        'secretsmanager:GetSecretValue': BOTH_SECRETS,
        'secretsmanager:PutSecretValue': BOTH_SECRETS,
        'secretsmanager:CreateSecret': BOTH_SECRETS,
        'secretsmanager:DeleteSecret': BOTH_SECRETS,
      },
      putEvents: true,
      signingKeys: SIGNS,
    },
  },
  // Reads the profile, writes one pending authorization. No secrets, no signing.
  authorizeUrl: {
    entry: 'authorize-url.ts',
    description: 'GET /profiles/{id}/authorize-url',
    memorySize: 256,
    timeout: 10,
    calls: {
      items: { 'dynamodb:GetItem': ['profile'], 'dynamodb:PutItem': ['pending'] },
    },
  },
  // Reads and consumes (conditional delete) the pending authorization by its key, exchanges the code with
  // the client secret, stores the first token set and the status. A profile deleted meanwhile: the
  // re-created token set is deleted again (both secrets of the profile, lib/broker.ts).
  callback: {
    entry: 'callback.ts',
    description: 'GET /callback (public): completes an authorization',
    memorySize: 512,
    timeout: 20,
    calls: {
      items: {
        // The pending authorization is read by the conditional delete that uses it up (ReturnValues).
        'dynamodb:GetItem': ['profile', 'keyRing'],
        'dynamodb:PutItem': ['keyRing'],
        'dynamodb:UpdateItem': ['profile'],
        'dynamodb:DeleteItem': ['pending'],
      },
      secrets: {
        'secretsmanager:GetSecretValue': ['client-secret'],
        'secretsmanager:PutSecretValue': ['token-set'],
        'secretsmanager:CreateSecret': ['token-set'],
        'secretsmanager:DeleteSecret': ['token-set'],
      },
      putEvents: true,
      signingKeys: SIGNS,
    },
  },
  // Reads the profile and token set; refreshes inline under the lease; a client-credentials profile gets
  // its first token set here. A profile deleted during that refresh: its secrets are deleted again.
  token: {
    entry: 'token.ts',
    description: 'GET /profiles/{id}/token: the consumers\' token endpoint',
    memorySize: 512,
    // The slowest path waits for another instance's refresh, then refreshes itself: the function gets
    // exactly the gateway's limit, so that the gateway answers 503 (IntegrationTimeout) rather than a 5xx.
    timeout: 'api',
    calls: REFRESH_CALLS,
  },
  // The scheduled job: finds due profiles on the sparse `due` index and refreshes each under the lease,
  // exactly as the token function does (same calls, plus the index).
  refresh: {
    entry: 'refresh.ts',
    description: 'Scheduled refresh of the profiles that are due',
    memorySize: 512,
    timeout: 'schedule',
    reservedConcurrency: 1,
    calls: { ...REFRESH_CALLS, queryIndexes: ['due'] },
  },
  // Public `GET /jwks`: reads the key ring, nothing else. It never signs (docs/keys.md).
  jwks: {
    entry: 'jwks.ts',
    description: 'GET /jwks (public): the signing keys\' public JWKS',
    memorySize: 256,
    timeout: 10,
    calls: { items: { 'dynamodb:GetItem': ['keyRing'] } },
  },
  // The key admin routes: rotation writes the ring and signs the new key's certificate (GetPublicKey and
  // Sign); GET /profiles/{id}/signing-key reads the profile and may take the first key of its algorithm.
  keys: {
    entry: 'keys.ts',
    description: 'GET /keys, POST /keys/{rotate,promote,withdraw}, GET /profiles/{id}/signing-key',
    memorySize: 256,
    timeout: 15,
    calls: {
      items: { 'dynamodb:GetItem': ['profile', 'keyRing'], 'dynamodb:PutItem': ['keyRing'] },
      putEvents: true,
      signingKeys: SIGNS,
    },
  },
} as const satisfies Readonly<Record<string, FunctionSpec>>;

/** `profiles`, `authorizeUrl`, `callback`, `token`, `refresh`, `jwks`, `keys`: the functions' keys. */
export type FunctionKey = keyof typeof FUNCTION_TABLE;

export const FUNCTIONS: Readonly<Record<FunctionKey, FunctionSpec>> = FUNCTION_TABLE;

export const functionKeys = (): FunctionKey[] => Object.keys(FUNCTIONS) as FunctionKey[];

/** One IAM action a function's code sends, on one kind of resource, e.g. `secretsmanager:DeleteSecret` on `token-set`. */
export interface CallTarget {
  readonly action: string;
  readonly resource:
    | { readonly kind: 'item'; readonly item: ItemKind }
    | { readonly kind: 'index'; readonly index: 'gsi1' | 'due' }
    | { readonly kind: 'secret'; readonly secret: SecretKind }
    | { readonly kind: 'event-bus' }
    | { readonly kind: 'signing-key' };
}

/** The calls of one function flattened to (action, resource) pairs: what tests and `doctor` check one by one. */
export function callTargets(key: FunctionKey): CallTarget[] {
  const { calls } = FUNCTIONS[key];
  const out: CallTarget[] = [];
  for (const [action, items] of Object.entries(calls.items ?? {})) {
    for (const item of items) out.push({ action, resource: { kind: 'item', item } });
  }
  for (const index of calls.queryIndexes ?? []) out.push({ action: 'dynamodb:Query', resource: { kind: 'index', index } });
  for (const [action, secrets] of Object.entries(calls.secrets ?? {})) {
    for (const secret of secrets) out.push({ action, resource: { kind: 'secret', secret } });
  }
  if (calls.putEvents) out.push({ action: 'events:PutEvents', resource: { kind: 'event-bus' } });
  for (const action of calls.signingKeys ?? []) out.push({ action, resource: { kind: 'signing-key' } });
  return out;
}

/**
 * The SDK command class names the Lambda code sends, each with the IAM action AWS evaluates for it
 * (`@aws-sdk/lib-dynamodb`'s document commands are the item actions).
 */
export const COMMAND_ACTIONS: Readonly<Record<string, string>> = {
  GetCommand: 'dynamodb:GetItem',
  PutCommand: 'dynamodb:PutItem',
  UpdateCommand: 'dynamodb:UpdateItem',
  DeleteCommand: 'dynamodb:DeleteItem',
  QueryCommand: 'dynamodb:Query',
  GetSecretValueCommand: 'secretsmanager:GetSecretValue',
  PutSecretValueCommand: 'secretsmanager:PutSecretValue',
  CreateSecretCommand: 'secretsmanager:CreateSecret',
  DeleteSecretCommand: 'secretsmanager:DeleteSecret',
  PutEventsCommand: 'events:PutEvents',
  GetPublicKeyCommand: 'kms:GetPublicKey',
  SignCommand: 'kms:Sign',
};

/** Where an environment's resources are: enough to name every ARN its functions' calls go to. */
export interface Placement {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly tableName: string;
  /** `<secretPrefix>/<env>/`, with the trailing `/` (the stack's `SecretNamePrefix` output). */
  readonly secretNamePrefix: string;
  readonly secretsKeyArn: string;
  /** The signing keys (`BROKER_SIGNING_KEYS`), each with the KMS `SigningAlgorithm` its grant pins. */
  readonly signingKeys?: readonly { readonly keyArn: string; readonly signingAlgorithm: string }[];
}

/** One request as AWS authorizes it: the action, the exact resource ARN, the condition keys it carries. */
export interface AwsRequest {
  readonly label: string;
  readonly action: string;
  readonly resource: string;
  readonly context: Readonly<Record<string, string | readonly string[]>>;
  /** `kms`: evaluated with the key policy too (Secrets Manager's KMS call for the function). */
  readonly keyPolicy?: boolean;
}

/**
 * Every request AWS authorizes when function `key` makes its calls about profile `profileId` in `place`:
 * each call on the exact ARN (an existing secret's ends in `-` and six characters, `suffix`; a missing
 * one is evaluated by its bare name; a new one by its name with the suffix it will get), and for each
 * Secrets Manager call the KMS call Secrets Manager makes for the function.
 */
export function awsRequests(key: FunctionKey, place: Placement, profileId = 'erp', suffix = 'AbC123'): AwsRequest[] {
  const { partition, region, account } = place;
  const tableArn = `arn:${partition}:dynamodb:${region}:${account}:table/${place.tableName}`;
  const secretArn = (kind: string, end: string) => `arn:${partition}:secretsmanager:${region}:${account}:secret:${place.secretNamePrefix}${profileId}/${kind}${end}`;
  const viaSecretsManager = (action: string, secret: string): AwsRequest => ({
    label: `${action} through Secrets Manager for ${secret}`,
    action,
    resource: place.secretsKeyArn,
    context: {
      'kms:ViaService': `secretsmanager.${region}.amazonaws.com`,
      'kms:CallerAccount': account,
      'kms:EncryptionContext:SecretARN': secret,
    },
    keyPolicy: true,
  });
  const out: AwsRequest[] = [];
  for (const call of callTargets(key)) {
    const r = call.resource;
    switch (r.kind) {
      case 'item': {
        const leading =
          r.item === 'profile' ? `${ITEM_KEY_PREFIXES.profile}${profileId}` : r.item === 'pending' ? `${ITEM_KEY_PREFIXES.pending}${'0'.repeat(64)}` : ITEM_KEY_PREFIXES.keyRing;
        out.push({ label: `${call.action} ${r.item}`, action: call.action, resource: tableArn, context: { 'dynamodb:LeadingKeys': [leading] } });
        break;
      }
      case 'index':
        out.push({ label: `Query ${r.index}`, action: call.action, resource: `${tableArn}/index/${r.index}`, context: {} });
        break;
      case 'secret': {
        const existing = secretArn(r.secret, `-${suffix}`);
        if (call.action === 'secretsmanager:CreateSecret') {
          const tags = { 'aws:TagKeys': ['oauth-broker:profile-id'] };
          out.push({ label: `CreateSecret ${r.secret}`, action: call.action, resource: existing, context: tags });
          out.push({ label: `TagResource on create ${r.secret}`, action: 'secretsmanager:TagResource', resource: existing, context: tags });
          out.push(viaSecretsManager('kms:GenerateDataKey', existing));
        } else {
          out.push({ label: `${call.action} existing ${r.secret}`, action: call.action, resource: existing, context: {} });
          // The same request for a secret that does not exist must reach Secrets Manager (ResourceNotFound).
          out.push({ label: `${call.action} missing ${r.secret}`, action: call.action, resource: secretArn(r.secret, ''), context: {} });
          if (call.action === 'secretsmanager:GetSecretValue') out.push(viaSecretsManager('kms:Decrypt', existing));
          if (call.action === 'secretsmanager:PutSecretValue') out.push(viaSecretsManager('kms:GenerateDataKey', existing));
        }
        break;
      }
      case 'event-bus':
        out.push({
          label: `PutEvents ${STATUS_CHANGED_DETAIL_TYPE}`,
          action: call.action,
          resource: `arn:${partition}:events:${region}:${account}:event-bus/default`,
          context: { 'events:source': [EVENT_SOURCE], 'events:detail-type': [STATUS_CHANGED_DETAIL_TYPE] },
        });
        if (FUNCTIONS[key].calls.signingKeys?.length) {
          out.push({
            label: `PutEvents ${SIGNING_KEY_CHANGED_DETAIL_TYPE}`,
            action: call.action,
            resource: `arn:${partition}:events:${region}:${account}:event-bus/default`,
            context: { 'events:source': [EVENT_SOURCE], 'events:detail-type': [SIGNING_KEY_CHANGED_DETAIL_TYPE] },
          });
        }
        break;
      case 'signing-key':
        for (const signingKey of place.signingKeys ?? []) {
          out.push({
            label: `${call.action} ${signingKey.keyArn}`,
            action: call.action,
            resource: signingKey.keyArn,
            context: call.action === 'kms:Sign' ? { 'kms:SigningAlgorithm': signingKey.signingAlgorithm } : {},
            keyPolicy: true,
          });
        }
        break;
    }
  }
  return out;
}
