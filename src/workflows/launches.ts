/**
 * Rocket-launch pipeline (the seed Airflow DAG: download_launches → get_pictures → notify) as a Temporal
 * workflow: fetch the Launch Library 2 `launch/upcoming` page, download every launch image with bounded
 * concurrency (files already present are skipped), then notify what this run did (downloaded, already
 * present, failed) and the API's count of upcoming launches ({@link launchNotificationMessage}).
 *
 * A failed image (after its retries) is reported in the result, never fatal to the run.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  workflowInfo,
  type ActivityOptions,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { LaunchActivities } from '../activities/launches';

/** Live LL2 endpoint, used when the input gives no URL. */
export const DEFAULT_LAUNCHES_URL = 'https://ll.thespacedevs.com/2.0.0/launch/upcoming';

/** Default number of concurrent image downloads. */
export const DEFAULT_IMAGE_CONCURRENCY = 4;

/** Retry policy of HTTP activities: exponential backoff 1 s → 1 min, 5 attempts. Non-retryable failures stop at once. */
export const HTTP_RETRY_POLICY: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 5,
};

/** Options of HTTP activities (fetch page, download one image): 2 min per attempt. */
export const HTTP_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: HTTP_RETRY_POLICY,
};

/** Options of local activities on the worker's file system (count images). */
export const LOCAL_FS_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
};

/** Options of the notify activity (webhook POST): 30 s per attempt, 5 attempts with backoff. */
export const NOTIFY_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
};

/** Overrides of the image-download retry policy (tests use small values to exercise unreachable hosts quickly). */
export type ImageRetryOverrides = Pick<RetryPolicy, 'maximumAttempts' | 'initialInterval' | 'maximumInterval' | 'backoffCoefficient'>;

/** Input of {@link launchImages}. */
export interface LaunchImagesInput {
  /** `http(s)://` or `file://` URL of an LL2 `launch/upcoming` page. @default {@link DEFAULT_LAUNCHES_URL} */
  url?: string;
  /** Logical date of the run; names the stored raw JSON. @default the workflow start date (UTC, `YYYY-MM-DD`) */
  logicalDate?: string;
  /** Maximum concurrent image downloads, integer ≥ 1. @default 4 */
  concurrency?: number;
  /** Overrides of {@link HTTP_RETRY_POLICY} for image downloads. */
  imageRetry?: ImageRetryOverrides;
}

/** One image that could not be downloaded. */
export interface FailedImage {
  /** First launch using this image. */
  launchId: string;
  /** Every launch using this image URL. */
  launchIds: string[];
  url: string;
  /** Failure type (`HttpNotFound`, `InvalidUrl`, `UnsupportedScheme`, `NetworkError`, `HttpServerError`, …). */
  type: string;
  /** Error message, with the URL. */
  reason: string;
}

/** Result of {@link launchImages}. */
export interface LaunchImagesResult {
  logicalDate: string;
  /** Launches on the fetched page (at most the API's `limit`). */
  launches: number;
  /** The API's `count`: every upcoming launch on the server, of which the page holds the first. */
  totalUpcoming: number;
  /** Launches with a null image (skipped). */
  launchesWithoutImage: number;
  /** Distinct image URLs among the launches (several launches may share one image). */
  distinctImages: number;
  /** Images downloaded by this run. */
  imagesDownloaded: number;
  /** Images skipped because their file was already present. */
  imagesAlreadyPresent: number;
  imagesFailed: FailedImage[];
  /** Image files in the images folder after the run (this run's and earlier runs'). */
  imagesTotal: number;
  /** True when the notification was delivered. */
  notified: boolean;
  /** Why the notification failed, when it did. */
  notifyError?: string;
}

/**
 * The notification's text: what this run did, then where its counts come from, e.g.
 * `Launch images 2024-03-30: 3 downloaded, 4 already present, 1 failed (8 distinct images of 10 launches
 * on the page; 329 upcoming launches in the API; 7 images in the folder)`.
 */
export function launchNotificationMessage(
  r: Pick<
    LaunchImagesResult,
    'logicalDate' | 'imagesDownloaded' | 'imagesAlreadyPresent' | 'distinctImages' | 'launches' | 'totalUpcoming' | 'imagesTotal'
  > & { failed: number },
): string {
  return (
    `Launch images ${r.logicalDate}: ${r.imagesDownloaded} downloaded, ${r.imagesAlreadyPresent} already present, ${r.failed} failed ` +
    `(${r.distinctImages} distinct images of ${r.launches} launches on the page; ${r.totalUpcoming} upcoming launches in the API; ` +
    `${r.imagesTotal} images in the folder)`
  );
}

function failureInfo(e: unknown): { type: string; reason: string } {
  let cur: unknown = e;
  if (cur instanceof ActivityFailure && cur.cause) cur = cur.cause;
  if (cur instanceof ApplicationFailure) return { type: cur.type ?? 'ApplicationFailure', reason: cur.message };
  if (cur instanceof Error) return { type: cur.name, reason: cur.message };
  return { type: 'Unknown', reason: String(cur) };
}

/**
 * Fetch → download images (bounded concurrency) → notify.
 * @throws ApplicationFailure `InvalidInput` for a bad `concurrency`; fetch failures (invalid data, 404,
 *   exhausted retries) fail the run since there is nothing to download.
 */
export async function launchImages(input: LaunchImagesInput = {}): Promise<LaunchImagesResult> {
  const url = input.url ?? DEFAULT_LAUNCHES_URL;
  const logicalDate = input.logicalDate ?? workflowInfo().startTime.toISOString().slice(0, 10);
  const concurrency = input.concurrency ?? DEFAULT_IMAGE_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw ApplicationFailure.nonRetryable(`concurrency must be an integer >= 1, got ${concurrency}`, 'InvalidInput');
  }

  const { fetchLaunches } = proxyActivities<LaunchActivities>(HTTP_ACTIVITY_OPTIONS);
  const { downloadImage } = proxyActivities<LaunchActivities>({
    ...HTTP_ACTIVITY_OPTIONS,
    retry: { ...HTTP_RETRY_POLICY, ...input.imageRetry },
  });
  const { countLaunchImages } = proxyActivities<LaunchActivities>(LOCAL_FS_ACTIVITY_OPTIONS);
  const { notify } = proxyActivities<LaunchActivities>(NOTIFY_ACTIVITY_OPTIONS);

  const page = await fetchLaunches({ url, logicalDate });

  // One download per distinct image URL, in page order.
  const byUrl = new Map<string, string[]>();
  let launchesWithoutImage = 0;
  for (const l of page.launches) {
    if (l.imageUrl === null) {
      launchesWithoutImage++;
      continue;
    }
    const ids = byUrl.get(l.imageUrl);
    if (ids) ids.push(l.id);
    else byUrl.set(l.imageUrl, [l.id]);
  }
  const jobs = [...byUrl.entries()];

  let imagesDownloaded = 0;
  let imagesAlreadyPresent = 0;
  const failed: Array<FailedImage & { index: number }> = [];
  let next = 0;
  // Semaphore: `concurrency` lanes each take the next job until none is left.
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const index = next++;
      const [imageUrl, launchIds] = jobs[index]!;
      try {
        const r = await downloadImage({ launchId: launchIds[0]!, imageUrl });
        if (r.status === 'downloaded') imagesDownloaded++;
        else imagesAlreadyPresent++;
      } catch (e) {
        failed.push({ index, launchId: launchIds[0]!, launchIds, url: imageUrl, ...failureInfo(e) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, lane));
  const imagesFailed = failed.sort((a, b) => a.index - b.index).map(({ index: _i, ...f }) => f);

  const imagesTotal = await countLaunchImages();
  let notified = false;
  let notifyError: string | undefined;
  try {
    await notify({
      dedupeKey: `launch-images/${logicalDate}`,
      source: 'launchImages',
      severity: imagesFailed.length > 0 ? 'warning' : 'info',
      message: launchNotificationMessage({
        logicalDate,
        imagesDownloaded,
        imagesAlreadyPresent,
        failed: imagesFailed.length,
        distinctImages: jobs.length,
        launches: page.count,
        totalUpcoming: page.totalUpcoming,
        imagesTotal,
      }),
      data: {
        logicalDate,
        launches: page.count,
        totalUpcoming: page.totalUpcoming,
        imagesDownloaded,
        imagesAlreadyPresent,
        imagesFailed: imagesFailed.length,
        launchesWithoutImage,
      },
    });
    notified = true;
  } catch (e) {
    notifyError = failureInfo(e).reason;
  }

  return {
    logicalDate,
    launches: page.count,
    totalUpcoming: page.totalUpcoming,
    launchesWithoutImage,
    distinctImages: jobs.length,
    imagesDownloaded,
    imagesAlreadyPresent,
    imagesFailed,
    imagesTotal,
    notified,
    ...(notifyError === undefined ? {} : { notifyError }),
  };
}
