/** The package version, shown by --version and sent by the agent in its metadata. */
export const VERSION = '0.1.0';
