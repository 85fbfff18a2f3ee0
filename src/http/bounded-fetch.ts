/** A response body that ran past the limit of a {@link boundedFetch}. */
export class ResponseTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`answered with more than ${maxBytes / 1024} KiB`);
    this.name = 'ResponseTooLargeError';
  }
}

/**
 * fetch, with each response body cut off past `maxBytes` (counted after decompression, as read):
 * for a library that reads whole bodies of a server the user named (openid-client, in
 * the sign-in with a provider and in the playground), where a huge answer or a gzip bomb (a few KiB inflating to GiB) would otherwise
 * be buffered whole within the time limit. Reading such a body fails with ResponseTooLargeError.
 */
export function boundedFetch(
  maxBytes: number,
): (url: string, options: RequestInit) => Promise<Response> {
  return async (url, options) => {
    const res = await fetch(url, options);
    if (res.body === null) return res;
    let length = 0;
    const limited = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          length += chunk.byteLength;
          if (length > maxBytes) controller.error(new ResponseTooLargeError(maxBytes));
          else controller.enqueue(chunk);
        },
      }),
    );
    return new Response(limited, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}
