/**
 * Failing fast on a Redis that cannot be reached: drivers, workers and
 * `workers list` first connect once, without retries and within a few
 * seconds, and fail naming the address and the fix. Only connections that
 * were once healthy then reconnect with backoff (BullMQ's own clients).
 * @module
 */
import { Redis } from "ioredis";
import { describeError, FlowymlError } from "../../kernel/errors.ts";
import { redactRedisUrl, redisConnection } from "./config.ts";

/** How long a first connection to Redis may take, in ms. */
const CONNECT_TIMEOUT_MS = 4_000;

/**
 * Connect to `url` once (no retries, {@linkcode CONNECT_TIMEOUT_MS} at most),
 * PING, and disconnect; throws a {@linkcode FlowymlError} naming the address
 * and the fix when that fails.
 */
export async function probeRedis(url: string, options: { timeoutMs?: number } = {}) {
  const timeoutMs = options.timeoutMs ?? CONNECT_TIMEOUT_MS;
  const probe = new Redis({
    ...redisConnection(url),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  probe.on("error", () => {}); // reported through the rejected connect below
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([probe.connect().then(() => probe.ping()), timeout]);
  } catch (err) {
    const c = redisConnection(url);
    throw new FlowymlError(
      `queue orchestrator: cannot reach Redis at ${redactRedisUrl(url)} (${c.host}:${c.port}): ${
        describeError(err)
      }`,
      {
        hint: "start redis-server there, or fix orchestrator.redis in flowyml.yaml " +
          '(e.g. redis: "redis://host:6379")',
        cause: err,
      },
    );
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
}
