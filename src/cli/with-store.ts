/**
 * Opens the deployment's store for one admin command and closes it afterwards: `--data`,
 * else REKEY_DATA, else ./data; PostgreSQL when REKEY_DATABASE_URL is set. Imported lazily by
 * the commands, so `rekey --help` loads no database driver.
 */
import { describeStoreLocation, openStore, resolveStoreLocation, type StoreLocation } from '../store/open-store.js';
import type { Store } from '../store/store.js';

export async function withStore<T>(data: string | undefined, fn: (store: Store, location: StoreLocation & { description: string }) => Promise<T>): Promise<T> {
  const location = resolveStoreLocation(data === undefined ? {} : { data });
  const store = await openStore(location);
  try {
    return await fn(store, { ...location, description: describeStoreLocation(location) });
  } finally {
    await store.close();
  }
}
