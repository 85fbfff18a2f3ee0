import type * as OpenidClient from 'openid-client';

/*
 * openid-client (with jose and oauth4webapi, which it loads) on first need: a service with no
 * provider configured never loads them. They were ~9 MB of memory and ~100 ms of every start
 * (issue #8). With providers, the first need is at start, when their credentials are read.
 */
let loaded: typeof OpenidClient | undefined;
let loading: Promise<typeof OpenidClient> | undefined;

/** The openid-client module, loaded on the first call. */
export async function openidClient(): Promise<typeof OpenidClient> {
  loading ??= import('openid-client').then((module) => (loaded = module));
  return loading;
}

/**
 * The module if it was loaded, for a synchronous check of what it threw (nothing it throws can
 * exist before it is loaded).
 */
export function openidClientIfLoaded(): typeof OpenidClient | undefined {
  return loaded;
}
