/** Output folder of the build. */
export declare const DIST_DIR: string;
/** The prebuilt workflow bundle. */
export declare const WORKFLOW_BUNDLE: string;
/** Builds dist/ (see scripts/build.mjs). @throws Error with the bundlers' messages. */
export declare function buildDist(options?: { quiet?: boolean; workflows?: boolean }): Promise<void>;
