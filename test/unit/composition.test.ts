/**
 * The composition root's settings reader: the refresh policy's variables reach the broker's settings,
 * and a bad value stops the start with a sentence naming it.
 */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, readSettings } from '../../lib/composition.js';

const REQUIRED = { BROKER_TABLE_NAME: 'table', BROKER_CALLBACK_URL: 'https://broker.example/callback' };

describe('readSettings', () => {
  it('passes the refresh policy\'s variables through, and leaves unset ones to the defaults', () => {
    expect(readSettings({ ...REQUIRED }).refresh).toEqual({});
    expect(readSettings({ ...REQUIRED, BROKER_REFRESH_INTERVAL_SECONDS: '60', BROKER_KEEP_ALIVE_SECONDS: '3600' }).refresh).toEqual({
      intervalSeconds: 60,
      keepAliveSeconds: 3600,
    });
  });

  it('refuses a bad value with a ConfigurationError naming the variable', () => {
    expect(() => readSettings({ ...REQUIRED, BROKER_REFRESH_MARGIN_SECONDS: '0' })).toThrow(
      new ConfigurationError('BROKER_REFRESH_MARGIN_SECONDS must be a positive whole number of seconds.'),
    );
    expect(() => readSettings({ ...REQUIRED, BROKER_KEEP_ALIVE_SECONDS: 'a day' })).toThrow(ConfigurationError);
  });

  it('names the missing required variables', () => {
    expect(() => readSettings({})).toThrow('Missing environment variables: BROKER_TABLE_NAME, BROKER_CALLBACK_URL.');
  });
});
