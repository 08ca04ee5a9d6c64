/** The local Temporal dev server: finding the CLI, and starting, reusing and stopping the server. */
export {
  devServerStatus,
  ensureDevServer,
  startDevServer,
  stopDevServer,
  type DevServerInfo,
  type DevServerOptions,
  type SearchAttributeTypeName,
} from './dev-server';
export { findTemporalCli, TEMPORAL_CLI_VERSION, temporalCliCachePath } from './temporal-cli';
