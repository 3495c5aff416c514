/**
 * The signing keys of `private_key_jwt` (docs/keys.md) as deployed, evaluated by the IAM policy engine
 * (test/cdk/policy-engine.ts) with each key's own key policy: only the functions whose code signs
 * (lib/functions.ts) may `kms:Sign`, only with the key's pinned algorithm and only this environment's keys;
 * the account keeps the keys' administration but cannot sign through IAM alone.
 */
import { describe, expect, it } from 'vitest';
import { FUNCTIONS, functionKeys, type FunctionKey } from '../../lib/functions.js';
import {
  ACCOUNT_ADMIN,
  ALLOW_EVERYTHING,
  attachedPolicies,
  deployEdited,
  deployedEnvironments,
  evaluate,
  evaluateCalls,
  identityPolicies,
  keyPolicyOf,
  roleId,
  signingKeysOf,
  type Decision,
  type Deployed,
} from './policy-engine.js';

const TIMEOUT = 120_000;
const SIGNERS: FunctionKey[] = ['profiles', 'callback', 'token', 'refresh', 'keys'];

const { templates, deployed } = deployedEnvironments(
  {
    // An environment with an RSA key for servers that need it and a next ES256 key prepared for rotation.
    rotating: {
      env: 'prod',
      overrides: {
        signingKeys: [
          { name: 'es256-next', alg: 'ES256', next: true },
          { name: 'es256', alg: 'ES256' },
          { name: 'ps256', alg: 'PS256', rsaKeySpec: 'RSA_3072' },
        ],
      },
    },
  },
  TIMEOUT,
);

/** `key`'s role of `d` asking KMS to sign with `keyArn` (of `owner`, default `d`) under `algorithm`. */
function sign(d: Deployed, key: FunctionKey, keyArn: string, algorithm: string, owner: Deployed = d): Promise<Decision> {
  const role = roleId(d, key);
  return evaluate({
    principal: d.arn(role),
    action: 'kms:Sign',
    resource: keyArn,
    context: { 'kms:SigningAlgorithm': algorithm },
    identityPolicies: identityPolicies(d, role),
    resourcePolicy: keyPolicyOf(owner, keyArn),
  });
}

describe('who may sign', () => {
  it('the functions table names exactly the functions that talk to token endpoints, and the key admin function', () => {
    expect(functionKeys().filter((key) => FUNCTIONS[key].calls.signingKeys?.includes('kms:Sign'))).toEqual(SIGNERS);
  });

  it.each(['dev', 'prod'])('%s: the signing functions may sign with the key and its algorithm; the others may not', async (env) => {
    // Prepare
    const d = deployed[env]!;
    const [key] = signingKeysOf(d);

    // Act
    const decisions = Object.fromEntries(await Promise.all(functionKeys().map(async (fn) => [fn, await sign(d, fn, key!.keyArn, 'ECDSA_SHA_256')] as const)));

    // Assess
    expect(signingKeysOf(d)).toEqual([{ keyArn: key!.keyArn, signingAlgorithm: 'ECDSA_SHA_256' }]);
    for (const fn of functionKeys()) expect(decisions[fn], fn).toBe(SIGNERS.includes(fn) ? 'Allowed' : 'ImplicitlyDenied');
  }, TIMEOUT);

  it('another algorithm on the same key is refused, to every role', async () => {
    const d = deployed.dev!;
    const [key] = signingKeysOf(d);
    for (const algorithm of ['ECDSA_SHA_384', 'RSASSA_PSS_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_256']) {
      for (const fn of SIGNERS) expect(await sign(d, fn, key!.keyArn, algorithm), `${fn} ${algorithm}`).toBe('ImplicitlyDenied');
    }
  }, TIMEOUT);

  it('another environment\'s key is refused (by the role and by that key\'s policy)', async () => {
    const [prodKey] = signingKeysOf(deployed.prod!);
    for (const fn of SIGNERS) expect(await sign(deployed.dev!, fn, prodKey!.keyArn, 'ECDSA_SHA_256', deployed.prod!), fn).toBe('ImplicitlyDenied');
  }, TIMEOUT);

  it('an account administrator allowed everything by IAM can neither sign nor read the public key through IAM alone; it keeps the key\'s administration', async () => {
    const d = deployed.prod!;
    const [key] = signingKeysOf(d);
    const ask = (action: string, context: Record<string, string> = {}) =>
      evaluate({ principal: ACCOUNT_ADMIN, action, resource: key!.keyArn, context, identityPolicies: ALLOW_EVERYTHING, resourcePolicy: keyPolicyOf(d, key!.keyArn) });
    expect(await ask('kms:Sign', { 'kms:SigningAlgorithm': 'ECDSA_SHA_256' })).toBe('ImplicitlyDenied');
    expect(await ask('kms:CreateGrant')).toBe('ImplicitlyDenied');
    for (const action of ['kms:DescribeKey', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:TagResource']) {
      expect(await ask(action), action).toBe('Allowed');
    }
  }, TIMEOUT);

  it('GetPublicKey only for the functions that bring a key into the ring; the JWKS function reads the ring only', async () => {
    const d = deployed.dev!;
    const [key] = signingKeysOf(d);
    for (const fn of functionKeys()) {
      const role = roleId(d, fn);
      const decision = await evaluate({
        principal: d.arn(role),
        action: 'kms:GetPublicKey',
        resource: key!.keyArn,
        identityPolicies: identityPolicies(d, role),
        resourcePolicy: keyPolicyOf(d, key!.keyArn),
      });
      expect(decision, fn).toBe(SIGNERS.includes(fn) ? 'Allowed' : 'ImplicitlyDenied');
    }
  }, TIMEOUT);
});

describe('several keys: an RSA key and a next key prepared for rotation', () => {
  it('lists the keys in use first and the next key last, in BROKER_SIGNING_KEYS order, each with its algorithm', () => {
    const keys = signingKeysOf(deployed.rotating!);
    expect(keys.map((k) => k.signingAlgorithm)).toEqual(['ECDSA_SHA_256', 'RSASSA_PSS_SHA_256', 'ECDSA_SHA_256']);
    const d = deployed.rotating!;
    const logical = keys.map((k) => Object.keys(d.resources).find((id) => d.resources[id]!.Type === 'AWS::KMS::Key' && d.arn(id) === k.keyArn));
    expect(logical.map((id) => id!.replace(/[0-9A-F]{8}$/, ''))).toEqual(['SigningKeyses256', 'SigningKeysps256', 'SigningKeyses256next']);
  });

  it('every signing function may sign with each key under that key\'s algorithm only', async () => {
    const d = deployed.rotating!;
    const [es256, ps256, next] = signingKeysOf(d);
    for (const fn of SIGNERS) {
      expect(await sign(d, fn, es256!.keyArn, 'ECDSA_SHA_256'), fn).toBe('Allowed');
      expect(await sign(d, fn, next!.keyArn, 'ECDSA_SHA_256'), fn).toBe('Allowed');
      expect(await sign(d, fn, ps256!.keyArn, 'RSASSA_PSS_SHA_256'), fn).toBe('Allowed');
      // An RSA algorithm on the EC key, ECDSA or PKCS #1 v1.5 on the PS256 key: refused.
      expect(await sign(d, fn, es256!.keyArn, 'RSASSA_PSS_SHA_256'), fn).toBe('ImplicitlyDenied');
      expect(await sign(d, fn, ps256!.keyArn, 'ECDSA_SHA_256'), fn).toBe('ImplicitlyDenied');
      expect(await sign(d, fn, ps256!.keyArn, 'RSASSA_PKCS1_V1_5_SHA_256'), fn).toBe('ImplicitlyDenied');
    }
    expect(await sign(d, 'jwks', next!.keyArn, 'ECDSA_SHA_256')).toBe('ImplicitlyDenied');
  }, TIMEOUT);

  it.each(SIGNERS)('%s: every call of its code, the signing calls on every key included, is allowed', async (fn) => {
    const results = await evaluateCalls(deployed.rotating!, fn);
    expect(results.filter((r) => r.label.startsWith('kms:Sign ')).length).toBe(3);
    expect(results.filter((r) => r.decision !== 'Allowed').map((r) => r.label)).toEqual([]);
  }, TIMEOUT);
});

describe('a removed grant fails the signing tests', () => {
  it('without the token role\'s Sign statement, the token function cannot sign (the key policy alone is not enough)', async () => {
    const d = deployEdited(templates.dev!, 'dev', (resources, dep) => {
      for (const [, r] of attachedPolicies(resources, roleId(dep, 'token'))) {
        r.Properties.PolicyDocument.Statement = (r.Properties.PolicyDocument.Statement as { Sid?: string }[]).filter((s) => !s.Sid?.startsWith('SignWithSigningKey'));
      }
    });
    const results = await evaluateCalls(d, 'token');
    expect(results.filter((r) => r.decision !== 'Allowed').map((r) => r.label)).toEqual([`kms:Sign ${signingKeysOf(d)[0]!.keyArn}`]);
  }, TIMEOUT);

  it('without the key policy\'s signing statement, no function can sign (IAM alone is not enough)', async () => {
    const d = deployEdited(templates.dev!, 'dev', (resources, dep) => {
      const key = resources[dep.id('AWS::KMS::Key', 'SigningKeyses256')]!;
      key.Properties.KeyPolicy.Statement = (key.Properties.KeyPolicy.Statement as { Sid: string }[]).filter((s) => s.Sid !== 'SignForBrokerSigningRoles');
    });
    const [key] = signingKeysOf(d);
    for (const fn of SIGNERS) expect(await sign(d, fn, key!.keyArn, 'ECDSA_SHA_256'), fn).toBe('ImplicitlyDenied');
  }, TIMEOUT);
});
