/**
 * Worker Versioning behaviours of the workflow types (README "Upgrade the workers"). Pipeline runs take
 * the worker's default (Pinned: a run finishes on the build it started on); the long-running ones are
 * declared here as Auto-Upgrade.
 */
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';

/**
 * Declares `fn` Auto-Upgrade: it runs for as long as its stream or device exists, so it moves to a new
 * worker build when that becomes current instead of staying on the build it started on (its changes go
 * behind `patched()`). Only on a versioned worker (`WORKER_BUILD_ID`): a server refuses a versioning
 * behaviour from a worker without deployment options ("versioning behavior cannot be specified without
 * deployment options being set with versioned mode", seen on Temporal 1.29.1).
 */
export function autoUpgradeWhenVersioned<A extends unknown[], R>(fn: (...args: A) => Promise<R>): void {
  // An unversioned worker reports a version too (its build id, no deployment name).
  setWorkflowOptions(() => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: 'AUTO_UPGRADE' } : {}), fn);
}
