/**
 * The KMS keys that sign `private_key_jwt` client assertions (docs/keys.md "What the stack provides"): one
 * asymmetric key per entry of the environment's `signingKeys` (created here, or named by ARN), the
 * functions' `BROKER_SIGNING_KEYS` value, and the key policy of the created keys. Which roles may sign is
 * cdk/permissions.ts's (from lib/functions.ts); the key policy names the same roles again, because it does
 * not delegate key use to IAM.
 */
import { Lazy, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { KMS_SIGNING_ALGORITHMS } from '../../lib/adapters/kms-signer.js';
import type { SigningAlgorithm } from '../../lib/keys/signer.js';
import { signingKeysOf, type EnvironmentSettings, type SigningKeySettings } from '../environments.js';
import { KEY_ADMIN_ACTIONS } from './data.js';

export interface SigningKey {
  readonly name: string;
  readonly alg: SigningAlgorithm;
  /** The KMS `SigningAlgorithm` the grants pin (`kms:SigningAlgorithm`). */
  readonly signingAlgorithm: string;
  readonly key: kms.IKey;
  /** Whether the stack created it (and so owns its key policy). */
  readonly created: boolean;
}

/** `ES256=<arn>,…`: the keys in use first, then the `next` ones, each group in the configured order. */
export function signingKeysValue(keys: readonly Pick<SigningKey, 'alg' | 'key'>[]): string {
  return keys.map((k) => `${k.alg}=${k.key.keyArn}`).join(',');
}

const keySpecOf = (config: SigningKeySettings): kms.KeySpec =>
  config.alg === 'ES256' ? kms.KeySpec.ECC_NIST_P256 : kms.KeySpec[config.rsaKeySpec ?? 'RSA_2048'];

export class BrokerSigningKeys extends Construct {
  /** In `BROKER_SIGNING_KEYS` order. */
  readonly keys: readonly SigningKey[];
  readonly #signers: iam.IRole[] = [];
  readonly #readers: iam.IRole[] = [];

  constructor(scope: Construct, id: string, props: { readonly settings: EnvironmentSettings }) {
    super(scope, id);
    const { settings } = props;
    const ordered = [...signingKeysOf(settings).filter((k) => !k.next), ...signingKeysOf(settings).filter((k) => k.next)];
    this.keys = ordered.map((config) => {
      const signingAlgorithm = KMS_SIGNING_ALGORITHMS[config.alg];
      if (config.keyArn) {
        return { name: config.name, alg: config.alg, signingAlgorithm, key: kms.Key.fromKeyArn(this, config.name, config.keyArn), created: false };
      }
      const key = new kms.Key(this, config.name, {
        description: `oauth-broker ${settings.name}: signs ${config.alg} client assertions (private_key_jwt, key "${config.name}")`,
        keySpec: keySpecOf(config),
        keyUsage: kms.KeyUsage.SIGN_VERIFY,
        // A withdrawn key removed from the configuration: kept with the data (prod), else deletion scheduled.
        removalPolicy: settings.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
        policy: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({ sid: 'KeyAdministrationByTheAccount', principals: [new iam.AccountRootPrincipal()], actions: KEY_ADMIN_ACTIONS, resources: ['*'] }),
          ],
        }),
      });
      // Key use is not delegated to IAM: only the broker's signing roles, with this key's algorithm only.
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'SignForBrokerSigningRoles',
          principals: [new iam.AccountRootPrincipal()],
          actions: ['kms:Sign'],
          resources: ['*'],
          conditions: {
            StringEquals: { 'kms:SigningAlgorithm': signingAlgorithm },
            ArnEquals: { 'aws:PrincipalArn': Lazy.list({ produce: () => this.#signers.map((r) => r.roleArn) }) },
          },
        }),
      );
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'PublicKeyForBrokerSigningRoles',
          principals: [new iam.AccountRootPrincipal()],
          actions: ['kms:GetPublicKey'],
          resources: ['*'],
          conditions: { ArnEquals: { 'aws:PrincipalArn': Lazy.list({ produce: () => this.#readers.map((r) => r.roleArn) }) } },
        }),
      );
      return { name: config.name, alg: config.alg, signingAlgorithm, key, created: true };
    });
  }

  /** The functions' `BROKER_SIGNING_KEYS`. */
  get environmentValue(): string {
    return signingKeysValue(this.keys);
  }

  /** Names `role` in the created keys' policies for the calls it may make (its IAM statements are cdk/permissions.ts's). */
  addUser(role: iam.IRole, actions: readonly string[]): void {
    if (actions.includes('kms:Sign')) this.#signers.push(role);
    if (actions.includes('kms:GetPublicKey')) this.#readers.push(role);
  }
}
