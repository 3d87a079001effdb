// The classifiers of projects kept loaded for prediction (the latest bundle of each), least recently used unloaded
// first, so a server with many projects holds at most `max` backbones in memory.
import type { BatcherOptions } from './batcher.js';
import { ServedModel } from './models.js';
import type { ProjectStore } from './projects.js';

interface Loaded {
  stamp: string;
  model: ServedModel;
}

export class ProjectModels {
  /** Map order is use order: the first entry is the least recently used. */
  private loaded = new Map<string, Loaded>();
  /** Loads in flight, by project and bundle stamp, so concurrent first requests load once. */
  private loading = new Map<string, Promise<ServedModel>>();

  constructor(
    private store: ProjectStore,
    private batching: BatcherOptions,
    private max: number,
  ) {}

  /** The classifier of the project's latest bundle, loaded if it is not (or an older bundle is). */
  async get(project: string): Promise<ServedModel> {
    const { stamp, dir } = await this.store.bundleDir(project);
    const cur = this.loaded.get(project);
    if (cur?.stamp === stamp) {
      this.loaded.delete(project);
      this.loaded.set(project, cur);
      return cur.model;
    }
    const key = `${project}\n${stamp}`;
    let p = this.loading.get(key);
    if (!p) {
      p = ServedModel.load(project, dir, this.batching)
        .then((m) => {
          this.set(project, stamp, m);
          return m;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  /** Keep `model` as the project's classifier (a training just saved it), unloading the one it replaces. */
  set(project: string, stamp: string, model: ServedModel): void {
    const old = this.loaded.get(project);
    this.loaded.delete(project);
    this.loaded.set(project, { stamp, model });
    if (old && old.model !== model) void old.model.dispose().catch(() => {});
    while (this.loaded.size > this.max) {
      const [name, entry] = this.loaded.entries().next().value as [string, Loaded];
      this.loaded.delete(name);
      void entry.model.dispose().catch(() => {});
    }
  }

  /** Unload the project's classifier (the project was deleted). */
  drop(project: string): void {
    const old = this.loaded.get(project);
    this.loaded.delete(project);
    if (old) void old.model.dispose().catch(() => {});
  }

  async closeAll(): Promise<void> {
    const all = [...this.loaded.values()];
    this.loaded.clear();
    await Promise.all(all.map((e) => e.model.dispose().catch(() => {})));
  }
}
