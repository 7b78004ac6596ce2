import { aws } from './aws.js';
import { balancers } from './balancers.js';
import { caches } from './caches.js';
import { cdns } from './cdn.js';
import { clouds } from './clouds.js';
import { paas } from './paas.js';
import type { KnownProduct } from './types.js';
import { webServers } from './web-servers.js';

export type { HeaderTest, KnownClock, KnownProduct, LimitKey } from './types.js';
export { L } from './types.js';

/**
 * Every intermediary product the probe knows, one file per family. Order matters where two
 * could match the same header: the more specific first (API Gateway before ALB, Cloud Run's
 * `Google Frontend` before the load balancer's `Via: 1.1 google`).
 */
export const knownProducts: readonly KnownProduct[] = [
  ...cdns,
  ...aws,
  ...clouds,
  ...paas,
  ...balancers,
  ...caches,
  ...webServers,
];

/** A product by id. */
export function productById(id: string): KnownProduct | undefined {
  return knownProducts.find((p) => p.id === id);
}
