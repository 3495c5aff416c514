import { describe, expect, it } from 'vitest';
import { HumanLog, logLevelFrom } from '../../../lib/local/human-log.js';

const AT = new Date(2026, 10, 28, 14, 2, 11).getTime();

function logger(level?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR') {
  const lines: string[] = [];
  return { lines, log: new HumanLog({ write: (line) => lines.push(line), clock: () => AT, ...(level ? { level } : {}) }) };
}

describe('HumanLog', () => {
  it('writes one line: local time, level, message, then the fields as key=value', () => {
    const { lines, log } = logger();
    log.warn('code exchange failed', { profileId: 'erp', reason: 'invalid_client', httpStatus: 401, staged: false });
    expect(lines).toEqual(['14:02:11 WARN  code exchange failed  profileId=erp reason=invalid_client httpStatus=401 staged=false']);
  });

  it('quotes values with spaces, writes objects as JSON, and takes the message from an object', () => {
    const { lines, log } = logger();
    log.error({ message: 'refresh run failed', run: 3 }, { errorMessage: 'The vault is busy.', outcomes: { refreshed: 1 } });
    expect(lines).toEqual(['14:02:11 ERROR refresh run failed  run=3 errorMessage="The vault is busy." outcomes={"refreshed":1}']);
  });

  it('logs an Error argument by its name only (its message may carry what a server sent)', () => {
    const { lines, log } = logger();
    log.warn('discovery failed', new Error('upstream said: client_secret=abc'));
    expect(lines).toEqual(['14:02:11 WARN  discovery failed  errorName=Error']);
  });

  it('drops entries below its level (WARN by default)', () => {
    const quiet = logger();
    quiet.log.info('profile saved', { profileId: 'erp' });
    quiet.log.debug('lease taken');
    expect(quiet.lines).toEqual([]);
    const verbose = logger('INFO');
    verbose.log.info('profile saved', { profileId: 'erp' });
    verbose.log.debug('lease taken');
    expect(verbose.lines).toEqual(['14:02:11 INFO  profile saved  profileId=erp']);
  });
});

describe('logLevelFrom', () => {
  it('reads BROKER_LOG_LEVEL, then Powertools\' variables, then the fallback; refuses other words', () => {
    expect(logLevelFrom({}, 'WARN')).toBe('WARN');
    expect(logLevelFrom({ LOG_LEVEL: 'debug' }, 'WARN')).toBe('DEBUG');
    expect(logLevelFrom({ POWERTOOLS_LOG_LEVEL: 'error', LOG_LEVEL: 'debug' }, 'WARN')).toBe('ERROR');
    expect(logLevelFrom({ BROKER_LOG_LEVEL: 'info', POWERTOOLS_LOG_LEVEL: 'error' }, 'WARN')).toBe('INFO');
    expect(logLevelFrom({ BROKER_LOG_LEVEL: 'loud' }, 'WARN')).toBeUndefined();
  });
});
