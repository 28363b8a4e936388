// Entry of an encoder thread (encoder-pool.ts): the TypeScript sources run through tsx, as in
// bin/iot-pipelines.mjs; the thread starts with no inherited loader flags, so tsx is registered once.
import { register } from 'tsx/esm/api';

register();
await import('./encoder-thread.ts');
