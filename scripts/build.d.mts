/** Output folder of the build. */
export declare const DIST_DIR: string;
/** The prebuilt workflow bundle. */
export declare const WORKFLOW_BUNDLE: string;
/** Packages bundled into dist/ rather than loaded from node_modules (see scripts/build.mjs). */
export declare const BUNDLED_PACKAGES: readonly string[];
/** Builds dist/ (see scripts/build.mjs). @throws Error with the bundlers' messages. */
export declare function buildDist(options?: { quiet?: boolean; workflows?: boolean; analyze?: boolean }): Promise<void>;
