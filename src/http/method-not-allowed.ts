import type { FastifyInstance, RouteOptions } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';

const METHODS: readonly HTTPMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * Fastify answers 404 for a known path with an unknown method. To answer 405 with `Allow`, we keep
 * a shadow router (the same matcher Fastify uses) holding every route, and ask it which methods
 * the path has.
 */
export class RouteMethods {
  private readonly router = FindMyWay({ ignoreTrailingSlash: true, ignoreDuplicateSlashes: true });

  /** Records a route as it is registered (called from an onRoute hook). */
  add(route: RouteOptions): void {
    // The CORS plugin's catch-all OPTIONS route would make every unknown path look "known".
    if (route.url === '*' || route.url === '/*') return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (!METHODS.includes(method as HTTPMethod)) continue;
      if (this.router.hasRoute(method as HTTPMethod, route.url, route.constraints ?? {})) continue;
      this.router.on(method as HTTPMethod, route.url, () => undefined);
    }
  }

  /** The methods the path answers to; empty when the path is unknown. */
  allowed(path: string): HTTPMethod[] {
    const pathOnly = path.split('?')[0] ?? path;
    return METHODS.filter((method) => this.router.find(method, pathOnly) !== null);
  }
}

/** Starts recording routes on `app`; call before any route is registered. */
export function trackRouteMethods(app: FastifyInstance): RouteMethods {
  const methods = new RouteMethods();
  app.addHook('onRoute', (route) => methods.add(route));
  return methods;
}
