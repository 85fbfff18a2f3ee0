/** API versions this build serves, oldest first. A new major version is added here. */
export const SUPPORTED_API_VERSIONS: readonly number[] = Object.freeze([1]);

/** The version an unversioned /api/... request gets when it names none. */
export const LATEST_API_VERSION = 1;
