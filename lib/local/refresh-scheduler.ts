/**
 * Local mode's stand-in for the EventBridge schedule: runs the refresh job every interval. Runs never
 * overlap (a run still going when the next is due is not doubled), and `stop()` waits for the run in
 * progress, so Ctrl-C never cuts a refresh between the token endpoint's answer and the vault write.
 */
export interface RefreshSchedulerOptions<T> {
  run: () => Promise<T>;
  intervalMs: number;
  /** Called with each run's result. */
  onResult?: (result: T) => void;
  /** Called when a run throws; the schedule goes on. */
  onError?: (error: unknown) => void;
}

export class RefreshScheduler<T> {
  readonly #options: RefreshSchedulerOptions<T>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<T | undefined> | undefined;
  #stopped = true;

  constructor(options: RefreshSchedulerOptions<T>) {
    this.#options = options;
  }

  /** Starts the schedule; the first run happens after `firstRunMs` (default: one interval). */
  start(firstRunMs = this.#options.intervalMs): void {
    this.#stopped = false;
    this.#schedule(firstRunMs);
  }

  /** Runs now, unless a run is in progress: then that run's result. */
  runNow(): Promise<T | undefined> {
    this.#running ??= this.#options
      .run()
      .then(
        (result) => {
          this.#options.onResult?.(result);
          return result;
        },
        (error: unknown) => {
          this.#options.onError?.(error);
          return undefined;
        },
      )
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  /** No further runs; resolves once the run in progress (if any) has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      const started = Date.now();
      void this.runNow().then(() => {
        // Fixed rate like the cloud schedule, but never two runs at once.
        this.#schedule(Math.max(0, this.#options.intervalMs - (Date.now() - started)));
      });
    }, delayMs);
    // The schedule alone does not keep the process alive: the HTTP server does.
    this.#timer.unref();
  }
}
