/**
 * `BROKER_SIGNING_KEYS` (docs/keys.md "Where keys come from"): parsed into the keys the stack configured;
 * a malformed value stops the function at start with a message naming the variable.
 */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, readSettings } from '../../../lib/composition.js';
import { parseSigningKeys, SigningKeysConfigurationError } from '../../../lib/keys/kms-keys.js';

const ARN = 'arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const BASE = { BROKER_TABLE_NAME: 't', BROKER_CALLBACK_URL: 'https://api.example/prod/callback' };

describe('parseSigningKeys', () => {
  it('reads <alg>=<KMS key ARN> entries, in order; unset or empty means none', () => {
    expect(parseSigningKeys(undefined)).toEqual([]);
    expect(parseSigningKeys(' ')).toEqual([]);
    expect(parseSigningKeys(`ES256=${ARN}, PS256=arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/broker-ps256`)).toEqual([
      { alg: 'ES256', keyArn: ARN },
      { alg: 'PS256', keyArn: 'arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/broker-ps256' },
    ]);
  });

  it.each([[ARN], [`HS256=${ARN}`], ['ES256=not-an-arn'], [`ES256=${ARN}=x`], [`ES256=${ARN},`]])('refuses %j naming the entry and the form', (value) => {
    expect(() => parseSigningKeys(value)).toThrow(SigningKeysConfigurationError);
    expect(() => parseSigningKeys(value)).toThrow(/BROKER_SIGNING_KEYS must be comma-separated <alg>=<KMS key ARN> entries/);
  });

  it('refuses a key listed twice (one key, one algorithm)', () => {
    expect(() => parseSigningKeys(`RS256=${ARN},PS256=${ARN}`)).toThrow(/lists the KMS key .* more than once/);
  });

  it('readSettings reports a malformed value as a ConfigurationError', () => {
    expect(readSettings({ ...BASE, BROKER_SIGNING_KEYS: `ES256=${ARN}` }).signingKeys).toEqual([{ alg: 'ES256', keyArn: ARN }]);
    expect(() => readSettings({ ...BASE, BROKER_SIGNING_KEYS: 'ES256' })).toThrow(ConfigurationError);
  });
});
