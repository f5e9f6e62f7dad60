/**
 * Calls `fn` at most once per `ms`: the first call of a burst runs at once, the rest of the burst
 * collapses into one trailing call, so the last state is always delivered.
 */
export function throttle(fn: () => void, ms: number): { schedule(): void; flush(): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let pending = false;
  const fire = () => {
    timer = setTimeout(() => {
      timer = null;
      if (pending) {
        pending = false;
        fn();
        fire();
      }
    }, ms);
  };
  return {
    schedule() {
      if (timer) {
        pending = true;
        return;
      }
      fn();
      fire();
    },
    /** Delivers now (e.g. after a call whose caller expects the panel to follow at once). */
    flush() {
      pending = false;
      fn();
    },
    cancel() {
      if (timer) clearTimeout(timer);
      timer = null;
      pending = false;
    },
  };
}
