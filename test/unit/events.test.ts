import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EVENT_SOURCE, EventBridgeStatusEvents, STATUS_CHANGED_DETAIL_TYPE } from '../../lib/events.js';
import type { Log } from '../../lib/logger.js';

const eventBridge = mockClient(EventBridgeClient);

function capturingLogger(): Log & { lines: Array<{ level: string; message: string; fields: unknown }> } {
  const lines: Array<{ level: string; message: string; fields: unknown }> = [];
  const at = (level: string) => (message: unknown, fields?: unknown) => void lines.push({ level, message: String(message), fields });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as never;
}

describe('EventBridgeStatusEvents', () => {
  beforeEach(() => {
    eventBridge.reset();
  });

  it('puts one "Profile Status Changed" event with the change and the environment on the configured bus', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    const events = new EventBridgeStatusEvents(() => new EventBridgeClient({ region: 'us-east-1' }), 'broker-bus', capturingLogger(), 'dev');

    // Act
    await events.statusChanged({ profileId: 'erp', from: 'ready', to: 'authorization_required', lastError: { code: 'invalid_grant', message: 'm', at: '2026-11-28T00:00:00.000Z' } });

    // Assess
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls).toHaveLength(1);
    const entry = calls[0]!.args[0].input.Entries![0]!;
    expect(entry).toMatchObject({ Source: EVENT_SOURCE, DetailType: STATUS_CHANGED_DETAIL_TYPE, EventBusName: 'broker-bus' });
    expect(JSON.parse(entry.Detail!)).toEqual({
      profileId: 'erp',
      from: 'ready',
      to: 'authorization_required',
      lastError: { code: 'invalid_grant', message: 'm', at: '2026-11-28T00:00:00.000Z' },
      environment: 'dev',
    });
  });

  it('logs a failed put instead of failing the refresh that caused it', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }));
    const logger = capturingLogger();
    const events = new EventBridgeStatusEvents(() => new EventBridgeClient({ region: 'us-east-1' }), 'default', logger);

    // Act
    await events.statusChanged({ profileId: 'erp', from: 'refresh_failing', to: 'ready', lastError: null });

    // Assess
    expect(logger.lines).toEqual([
      expect.objectContaining({ level: 'warn', message: 'status event failed', fields: expect.objectContaining({ profileId: 'erp', errorName: 'ThrottlingException' }) }),
    ]);
  });

  it('makes its own client on the first signal when none is given, and keeps it', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    const events = new EventBridgeStatusEvents(undefined, 'broker-bus', capturingLogger());

    // Act
    await events.statusChanged({ profileId: 'erp', from: 'ready', to: 'expired', lastError: null });
    await events.statusChanged({ profileId: 'erp', from: 'expired', to: 'ready', lastError: null });

    // Assess
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.thisValue).toBe(calls[1]!.thisValue);
    expect(calls[0]!.args[0].input.Entries![0]).toMatchObject({ Source: EVENT_SOURCE, EventBusName: 'broker-bus' });
  });

  it('logs a failure to make the client, and tries again on the next signal', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    const logger = capturingLogger();
    let attempts = 0;
    const events = new EventBridgeStatusEvents(
      () => {
        if (++attempts === 1) throw new Error('no region');
        return new EventBridgeClient({ region: 'us-east-1' });
      },
      'default',
      logger,
    );

    // Act
    await events.statusChanged({ profileId: 'erp', from: 'ready', to: 'expired', lastError: null });
    await events.statusChanged({ profileId: 'erp', from: 'expired', to: 'ready', lastError: null });

    // Assess
    expect(attempts).toBe(2);
    expect(logger.lines).toEqual([expect.objectContaining({ level: 'warn', message: 'status event failed' })]);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
  });

  it('logs an entry EventBridge did not accept', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] });
    const logger = capturingLogger();
    const events = new EventBridgeStatusEvents(() => new EventBridgeClient({ region: 'us-east-1' }), 'default', logger);

    // Act
    await events.statusChanged({ profileId: 'erp', from: 'ready', to: 'expired', lastError: null });

    // Assess
    expect(logger.lines).toEqual([expect.objectContaining({ level: 'warn', message: 'status event not accepted', fields: { profileId: 'erp', errorCode: 'InternalFailure' } })]);
  });
});
