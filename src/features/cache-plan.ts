// The cache bookkeeping both extractions share (extract.ts runs the backbone here, extract-remote.ts on the queue):
// the store and the model's key in it, which images the store already holds, each image's result slot in path order,
// the files skipped, and the progress counts. Its own module so that neither extraction imports the other for it.
import type { Backbone } from '../backbone/types.js';
import type { SkippedFile } from '../data/files.js';
import { rememberedHash } from '../data/file-hashes.js';
import { sha256 } from '../util/hash.js';
import { FeatureStore, modelKeyFor, type ModelKeyInfo } from './store.js';
import type { ExtractOptions, ExtractResult } from './extract.js';

export class CachePlan {
  readonly store: FeatureStore;
  readonly model: ModelKeyInfo;
  /** features[i] belongs to paths[i]; undefined where the file was skipped (or is not done yet). */
  readonly features: (Float32Array | undefined)[];
  readonly contentHashes: (string | undefined)[];
  readonly skipped: SkippedFile[] = [];
  /** Vectors computed in this run (here or by workers). */
  embedded = 0;
  /** Vectors found in the store. */
  cached = 0;
  private readonly hits: string[] = [];
  private readonly ownStore: boolean;
  private readonly start: number;

  /** `running()`: images counted as done although not yet stored (a remote shard's progress). */
  constructor(
    backbone: Backbone,
    private readonly paths: string[],
    private readonly opts: ExtractOptions,
    private readonly running: () => number = () => 0,
  ) {
    this.ownStore = !opts.store;
    this.store = opts.store ?? FeatureStore.open();
    this.model = modelKeyFor(backbone);
    this.store.registerModel(this.model);
    this.features = new Array(paths.length);
    this.contentHashes = new Array(paths.length);
    this.start = Date.now();
  }

  progress(): void {
    this.opts.onProgress?.({
      total: this.paths.length,
      done: this.embedded + this.cached + this.skipped.length + this.running(),
      embedded: this.embedded,
      cached: this.cached,
      skipped: this.skipped.length,
      elapsedMs: Date.now() - this.start,
    });
  }

  /** An unreadable or undecodable file: recorded and reported; the run goes on. */
  skip(index: number, reason: string): void {
    const s = { path: this.paths[index], reason };
    this.skipped.push(s);
    this.opts.onSkip?.(s);
  }

  /**
   * A file this process has hashed before (the dataset's duplicate check) and that is unchanged since: when the store
   * holds its vector, it is taken without reading the file again (true).
   */
  takeRememberedHit(index: number): boolean {
    const hash = rememberedHash(this.paths[index]);
    return hash !== undefined && this.take(index, hash);
  }

  /** Hashes a file's bytes; when the store holds its vector, takes it (true) and the file needs no further work. */
  lookup(index: number, bytes: Buffer): { hash: string; hit: boolean } {
    const hash = sha256(bytes);
    return { hash, hit: this.take(index, hash) };
  }

  private take(index: number, hash: string): boolean {
    this.contentHashes[index] = hash;
    const hit = this.store.get(this.model.key, hash, this.model.dim);
    if (!hit) return false;
    this.features[index] = hit;
    this.hits.push(hash);
    this.cached++;
    this.progress();
    return true;
  }

  /** Marks the hits as used now (`tl cache prune --older-than` keeps them) and closes a store opened here. */
  finish(): void {
    if (this.hits.length) this.store.touch(this.model.key, this.hits);
    if (this.ownStore) this.store.close();
  }

  result(): ExtractResult {
    const { features, contentHashes, skipped, embedded, cached } = this;
    return { features, contentHashes, skipped, embedded, cached, elapsedMs: Date.now() - this.start };
  }
}
