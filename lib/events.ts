/**
 * Status-change signals: every change of a profile's `status.state`, recovery
 * included, is put on EventBridge as source `oauth-broker`, detail-type `Profile Status Changed`.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Log } from './logger.js';
import { errorFields } from './logger.js';
import type { LastError, ProfileState } from './profile.js';
import { EVENT_SOURCE, STATUS_CHANGED_DETAIL_TYPE } from './event-names.js';

export { EVENT_SOURCE, STATUS_CHANGED_DETAIL_TYPE };

export interface StatusChange {
  profileId: string;
  from: ProfileState;
  to: ProfileState;
  lastError: LastError | null;
  /**
   * Set when an edit (`PUT`) caused the event: the fields it changed among grant type, client and
   * endpoints (names only, never values), and whether the tokens were discarded (and revoked).
   */
  changed?: string[];
  tokensDiscarded?: boolean;
}

export interface StatusEvents {
  /** Best effort: a failed signal is logged, never fails the refresh that caused it. */
  statusChanged(change: StatusChange): Promise<void>;
}

/**
 * The EventBridge SDK, loaded on the first signal: the token path rarely signals (cold start). Through
 * `adapters/eventbridge-client.ts`, whose named imports make the bundle smaller than an `import()` of the
 * package would.
 */
type EventBridgeModule = typeof import('./adapters/eventbridge-client.js');
let eventBridgeModule: Promise<EventBridgeModule> | undefined;
const loadEventBridge = (): Promise<EventBridgeModule> => (eventBridgeModule ??= import('./adapters/eventbridge-client.js'));

/**
 * An EventBridge client made on first use: by `make`, else `new EventBridgeClient({})` from the lazily
 * loaded SDK. A failure to make it is retried on the next signal.
 */
function lazyEventBridgeClient(make?: () => EventBridgeClient | Promise<EventBridgeClient>): () => Promise<EventBridgeClient> {
  let client: Promise<EventBridgeClient> | undefined;
  return () => {
    if (client) return client;
    const made = (async () => (make ? make() : new (await loadEventBridge()).EventBridgeClient({})))();
    made.catch(() => {
      if (client === made) client = undefined;
    });
    return (client = made);
  };
}

/** The container's one default client, shared by every kind of signal. */
export const defaultEventBridgeClient = lazyEventBridgeClient();

export class EventBridgeStatusEvents implements StatusEvents {
  readonly #client: () => Promise<EventBridgeClient>;

  constructor(
    /**
     * The client, made on first use; default: the container's `new EventBridgeClient({})`. Pass `undefined`
     * to keep the SDK unloaded until the first signal.
     */
    client: (() => EventBridgeClient | Promise<EventBridgeClient>) | undefined,
    readonly eventBusName: string,
    readonly logger: Log,
    /** The deployment's environment name, so that alarms of environments sharing an account tell their events apart. */
    readonly environment?: string,
  ) {
    this.#client = client ? lazyEventBridgeClient(client) : defaultEventBridgeClient;
  }

  async statusChanged(change: StatusChange): Promise<void> {
    await putBrokerEvent(this.#client, this, {
      detailType: STATUS_CHANGED_DETAIL_TYPE,
      detail: change,
      what: 'status event',
      subject: { profileId: change.profileId },
    });
  }
}

/** Where the broker's signals go: the bus, the log for failed signals, the environment each detail names. */
export interface SignalBus {
  readonly eventBusName: string;
  readonly logger: Log;
  readonly environment?: string | undefined;
}

/**
 * Puts one event of source `oauth-broker` on the bus, its detail naming the environment. Best effort: a
 * refused entry or a failed call is logged (`<what> not accepted` / `<what> failed`, with `subject` to tell
 * which), never thrown.
 */
export async function putBrokerEvent(
  client: () => Promise<EventBridgeClient>,
  bus: SignalBus,
  event: { detailType: string; detail: object; what: string; subject: Record<string, string> },
): Promise<void> {
  try {
    const [eventBridge, { PutEventsCommand }] = await Promise.all([client(), loadEventBridge()]);
    const detail = bus.environment ? { ...event.detail, environment: bus.environment } : event.detail;
    const out = await eventBridge.send(
      new PutEventsCommand({
        Entries: [{ Source: EVENT_SOURCE, DetailType: event.detailType, EventBusName: bus.eventBusName, Detail: JSON.stringify(detail) }],
      }),
    );
    if (out.FailedEntryCount) bus.logger.warn(`${event.what} not accepted`, { ...event.subject, errorCode: out.Entries?.[0]?.ErrorCode });
  } catch (error) {
    bus.logger.warn(`${event.what} failed`, { ...event.subject, ...errorFields(error) });
  }
}

/** For local mode and tests: each signal is logged (and kept, for assertions). */
export class LoggedEvents<T extends object> {
  readonly changes: T[] = [];
  constructor(
    private readonly message: string,
    private readonly logger?: Log,
  ) {}

  protected async record(change: T): Promise<void> {
    this.changes.push(change);
    this.logger?.info(this.message, { ...(change as Record<string, unknown>) });
  }
}

export class LoggedStatusEvents extends LoggedEvents<StatusChange> implements StatusEvents {
  constructor(logger?: Log) {
    super('profile status changed', logger);
  }

  statusChanged(change: StatusChange): Promise<void> {
    return this.record(change);
  }
}
