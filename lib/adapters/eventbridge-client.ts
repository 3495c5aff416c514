/**
 * The two parts of the EventBridge SDK that `lib/events.ts` uses, in a module of its own that events.ts
 * loads with `import()` on the first signal (the token path rarely signals: cold start). Named imports here
 * keep the Lambda bundle smaller than an `import()` of the package itself (~44 KiB of the client's own code
 * instead of ~56 KiB). Not the ~15 KiB a static import would keep: esbuild wraps what a bundle loads with
 * `import()` in lazy initialisers, which run every module the package's index re-exports, so those stay.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';

export { EventBridgeClient, PutEventsCommand };
