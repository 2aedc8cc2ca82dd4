// The one timer-as-a-promise, abortable like `fetch`.

/**
 * Resolves after `ms` milliseconds (never, for `Infinity`); rejects with `signal.reason` as soon as
 * `signal` aborts, and clears its timer, so an abandoned wait holds nothing open.
 *
 * @example await sleep(100);
 * @example await sleep(delayMs, { signal }).catch(() => {}); // stop waiting when aborted
 */
export function sleep(ms: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const { signal } = opts;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    if (Number.isFinite(ms)) {
      timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
    }
  });
}
