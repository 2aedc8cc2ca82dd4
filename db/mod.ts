// The ledger's and the registry's database layer. Knows nothing of HTTP.
export { type Database, openDatabase, type OpenDatabaseOptions, type Sql } from "./client.ts";
export { migrate, type Migration, readMigrations } from "./migrate.ts";
export { API_KEY_PREFIX, type ApiKeyRow, createApiKey, findApiKeyByHash, hashApiKey } from "./api_keys.ts";
export { countJobs, findJob, insertJobs, type JobRow, type JobStatus } from "./jobs.ts";
