/**
 * cdk/constructs/signing-keys.ts and the settings behind it: the asymmetric KMS keys of `private_key_jwt`
 * (docs/keys.md), their key policies, the functions' `BROKER_SIGNING_KEYS`, and the grants to sign.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { KEY_ADMIN_ACTIONS } from '../../../cdk/constructs/data.js';
import { environments, resolveEnvironment, type EnvironmentSettings, type SigningKeySettings } from '../../../cdk/environments.js';
import { parseSigningKeys } from '../../../lib/keys/kms-keys.js';
import { actionsOf, FUNCTION_IDS, functionProps, logicalId, resources, roleStatements, synth, synthesized, type Statement } from '../support.js';

const IMPORTED = 'arn:aws:kms:eu-central-1:111122223333:key/0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';
const SIGNING_ROLES = ['Profiles', 'Callback', 'Token', 'Refresh', 'Keys'];

describe('the signing key of the dev stack (the default)', () => {
  const dev = synthesized({ env: 'dev' });
  let keyId: string;

  beforeAll(() => {
    keyId = logicalId(dev.template, 'AWS::KMS::Key', 'SigningKeyses256');
  });

  it('is one ECC_NIST_P256 SIGN_VERIFY key, destroyed with the dev stack (deletion scheduled)', () => {
    const key = resources(dev.template, 'AWS::KMS::Key')[keyId]!;
    expect(key.Properties).toMatchObject({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    expect(key.Properties!.EnableKeyRotation).toBeUndefined();
    expect(key.DeletionPolicy).toBe('Delete');
  });

  it('keeps administration with the account and lets only the signing roles sign, with ECDSA_SHA_256 only', () => {
    const statements = resources(dev.template, 'AWS::KMS::Key')[keyId]!.Properties!.KeyPolicy.Statement as Statement[];
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));
    expect(Object.keys(bySid).sort()).toEqual(['KeyAdministrationByTheAccount', 'PublicKeyForBrokerSigningRoles', 'SignForBrokerSigningRoles']);
    expect([...(bySid.KeyAdministrationByTheAccount!.Action as string[])].sort()).toEqual([...KEY_ADMIN_ACTIONS].sort());
    expect(bySid.SignForBrokerSigningRoles!.Action).toBe('kms:Sign');
    expect(bySid.SignForBrokerSigningRoles!.Condition!.StringEquals).toEqual({ 'kms:SigningAlgorithm': 'ECDSA_SHA_256' });
    const named = (s: Statement) => JSON.stringify(s.Condition?.ArnEquals?.['aws:PrincipalArn']);
    for (const sid of ['SignForBrokerSigningRoles', 'PublicKeyForBrokerSigningRoles']) {
      for (const name of FUNCTION_IDS) {
        if (SIGNING_ROLES.includes(name)) expect(named(bySid[sid]!), `${sid} ${name}`).toContain(`"${name}Role`);
        else expect(named(bySid[sid]!), `${sid} ${name}`).not.toContain(`"${name}Role`);
      }
    }
  });

  it('is in every function\'s BROKER_SIGNING_KEYS, and only the signing roles hold kms:Sign on it', () => {
    for (const name of FUNCTION_IDS) {
      expect(functionProps(dev.template, name).Environment.Variables.BROKER_SIGNING_KEYS).toEqual({ 'Fn::Join': ['', ['ES256=', { 'Fn::GetAtt': [keyId, 'Arn'] }]] });
      const signs = roleStatements(dev.template, `${name}Role`).filter((s) => actionsOf([s]).includes('kms:Sign'));
      expect(signs.length, name).toBe(SIGNING_ROLES.includes(name) ? 1 : 0);
    }
  });
});

describe('configured signing keys', () => {
  const build = (signingKeys: readonly SigningKeySettings[], env = 'prod') => synth({ env, overrides: { signingKeys } }).template;

  it('makes RSA keys for RS256 and PS256 (RSA_2048 unless asked), retained with prod\'s data, each pinned to its algorithm', () => {
    // Act
    const template = build([
      { name: 'rs256', alg: 'RS256' },
      { name: 'ps256', alg: 'PS256', rsaKeySpec: 'RSA_4096' },
    ]);

    // Assess
    const rs = resources(template, 'AWS::KMS::Key')[logicalId(template, 'AWS::KMS::Key', 'SigningKeysrs256')]!;
    const ps = resources(template, 'AWS::KMS::Key')[logicalId(template, 'AWS::KMS::Key', 'SigningKeysps256')]!;
    expect(rs.Properties).toMatchObject({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
    expect(ps.Properties).toMatchObject({ KeySpec: 'RSA_4096', KeyUsage: 'SIGN_VERIFY' });
    expect(rs.DeletionPolicy).toBe('Retain');
    const conditions = roleStatements(template, 'TokenRole')
      .filter((s) => actionsOf([s]).includes('kms:Sign'))
      .map((s) => s.Condition?.StringEquals?.['kms:SigningAlgorithm']);
    expect(conditions).toEqual(['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PSS_SHA_256']);
  });

  it('uses a key named by ARN as it is: no key created, the grant on that ARN, listed in BROKER_SIGNING_KEYS after the keys in use when next', () => {
    // Act
    const template = build([
      { name: 'es256', alg: 'ES256' },
      { name: 'brought', alg: 'ES256', keyArn: IMPORTED, next: true },
    ]);

    // Assess
    const created = Object.keys(resources(template, 'AWS::KMS::Key')).filter((id) => id.startsWith('SigningKeys'));
    expect(created.map((id) => id.replace(/[0-9A-F]{8}$/, ''))).toEqual(['SigningKeyses256']);
    const value = functionProps(template, 'Token').Environment.Variables.BROKER_SIGNING_KEYS;
    expect(value['Fn::Join'][1].at(-1)).toBe(`,ES256=${IMPORTED}`);
    expect(value['Fn::Join'][1][0]).toBe('ES256=');
    const signs = roleStatements(template, 'TokenRole').filter((s) => actionsOf([s]).includes('kms:Sign'));
    expect(signs.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [created[0], 'Arn'] }, IMPORTED]);
    const reads = roleStatements(template, 'TokenRole').find((s) => actionsOf([s]).includes('kms:GetPublicKey'))!;
    expect(reads.Resource).toHaveLength(2);
    expect(reads.Resource).toEqual(expect.arrayContaining([{ 'Fn::GetAtt': [created[0], 'Arn'] }, IMPORTED]));
  });

  it('with no signing keys, no KMS signing grant and an empty BROKER_SIGNING_KEYS (the broker then refuses private_key_jwt)', () => {
    const template = build([], 'dev');
    expect(Object.keys(resources(template, 'AWS::KMS::Key')).filter((id) => id.startsWith('SigningKeys'))).toEqual([]);
    for (const name of FUNCTION_IDS) {
      expect(functionProps(template, name).Environment.Variables.BROKER_SIGNING_KEYS).toBe('');
      expect(actionsOf(roleStatements(template, `${name}Role`)).filter((a) => a === 'kms:Sign' || a === 'kms:GetPublicKey'), name).toEqual([]);
    }
    expect(parseSigningKeys('')).toEqual([]);
  });
});

describe('signingKeys settings', () => {
  const check = (signingKeys: readonly SigningKeySettings[], extra: Partial<EnvironmentSettings> = {}) => () =>
    resolveEnvironment('dev', { dev: { ...environments.dev, ...extra, signingKeys } });

  it('refuses keys the broker could not use, naming each problem', () => {
    expect(check([{ name: 'a', alg: 'ES512' as 'ES256' }])).toThrow(/signingKeys\[0\]\.alg must be ES256, RS256 or PS256/);
    expect(check([{ name: 'a', alg: 'ES256', rsaKeySpec: 'RSA_2048' }])).toThrow(/rsaKeySpec is for RS256 and PS256 keys/);
    expect(check([{ name: 'a', alg: 'ES256' }, { name: 'a', alg: 'RS256' }])).toThrow(/name "a" is used twice/);
    expect(check([{ name: 'Bad Name', alg: 'ES256' }])).toThrow(/name "Bad Name" must be/);
    expect(check([{ name: 'a', alg: 'ES256', keyArn: 'arn:aws:kms:eu-central-1:111122223333:alias/broker' }])).toThrow(/an alias cannot be granted kms:Sign/);
    expect(check([{ name: 'a', alg: 'ES256', keyArn: IMPORTED }, { name: 'b', alg: 'RS256', keyArn: IMPORTED }])).toThrow(/lists the key .* twice/);
    expect(check([{ name: 'a', alg: 'ES256', keyArn: IMPORTED }], { region: 'eu-west-1' })).toThrow(/not in the environment's eu-west-1/);
  });

  it('accepts the default, an RSA key, a next key and a key of the environment\'s own account and region', () => {
    expect(resolveEnvironment('dev').signingKeys).toBeUndefined();
    const keys: SigningKeySettings[] = [{ name: 'es256', alg: 'ES256' }, { name: 'ps256', alg: 'PS256', rsaKeySpec: 'RSA_3072' }, { name: 'next', alg: 'ES256', keyArn: IMPORTED, next: true }];
    expect(check(keys, { region: 'eu-central-1', account: '111122223333' })().signingKeys).toEqual(keys);
  });
});
