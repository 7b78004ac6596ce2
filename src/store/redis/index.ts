/**
 * `outlast/store/redis`: a {@link Store} on Redis Streams, so that several server instances
 * behind a load balancer serve every stream and job. Needs the optional peer dependency
 * `redis` (`npm install redis`). See docs/redis.md.
 * @packageDocumentation
 */
export type { Store } from '../types.js';
export { type RedisStoreOptions, redisStoreDefaults } from './options.js';
export { createRedisStore, type RedisStore } from './store.js';
