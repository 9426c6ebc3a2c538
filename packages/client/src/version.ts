/**
 * This package's version, which is also the version of the imagegen service it is tested against (the
 * client is released together with the API; test/client/version.test.ts holds the two equal).
 */
export const VERSION = '0.1.0';
