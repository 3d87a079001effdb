// A training job's stage, rate and time left, from its events: extraction's images/s over what is left of both splits,
// fine-tuning's images/s over what is left of the epoch plus the epochs to come at the measured seconds per epoch.
// Only measured rates make an ETA; a stage without one (the head's fit, saving) shows none.

export type Stage = 'starting' | 'extracting' | 'head' | 'fine-tuning' | 'saving' | 'done';

export interface Progress {
  stage: Stage;
  /** Words for the stage: "Extracting features (training photos)", "Fine-tuning: epoch 2 of 8". */
  stageText: string;
  rateText: string;
  /** "about 40 s left", or '' when nothing measured says. */
  etaText: string;
}

/** "about 40 s left", "about 3 min left". */
export function etaText(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 90) return `about ${Math.max(1, Math.round(seconds))} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}

export class ProgressTracker {
  /** The validation split's size: estimated from the photos until the 'dataset' event (after extraction) says. */
  private valImages = 0;
  private epochSeconds: number[] = [];
  private stepRate: number | undefined;
  private last: Progress = { stage: 'starting', stageText: 'Starting', rateText: '', etaText: '' };

  get progress(): Progress {
    return this.last;
  }

  private set(p: Partial<Progress>): Progress {
    this.last = { ...this.last, ...p };
    return this.last;
  }

  /** `photos`: the project's photos (train + val), for the validation split's size before the run reports it. */
  constructor(private photos = 0) {}

  /** The split's sizes (the 'dataset' event). */
  dataset(counts: { val: number }[]): Progress {
    this.valImages = counts.reduce((s, c) => s + c.val, 0);
    return this.last;
  }

  extractStart(split: 'train' | 'val', total: number): Progress {
    if (split === 'train') this.valImages = Math.max(0, this.photos - total);
    return this.set({ stage: 'extracting', stageText: extractText(split), etaText: '' });
  }

  extract(split: 'train' | 'val', done: number, total: number, imagesPerSecond: number | null): Progress {
    const left = total - done + (split === 'train' ? this.valImages : 0);
    return this.set({
      stage: 'extracting',
      stageText: extractText(split),
      etaText: imagesPerSecond && imagesPerSecond > 0 && left > 0 ? etaText(left / imagesPerSecond) : '',
    });
  }

  extractDone(split: 'train' | 'val'): Progress {
    // The training split is followed by the validation split when there is one; after both, the head is fitted
    // (fine-tuning's epoch 0 is that head too).
    if (split === 'train' && this.valImages > 0) return this.last;
    return this.set({ stage: 'head', stageText: 'Training the head', etaText: '' });
  }

  step(epoch: number, of: number, done: number, total: number, imagesPerSecond: number | null): Progress {
    if (imagesPerSecond && imagesPerSecond > 0) this.stepRate = imagesPerSecond;
    const rate = imagesPerSecond && imagesPerSecond > 0 ? imagesPerSecond : undefined;
    const perEpoch = rate ? (this.meanEpochSeconds() ?? total / rate) : undefined;
    return this.set({
      stage: 'fine-tuning',
      stageText: `Fine-tuning: epoch ${epoch} of ${of}`,
      rateText: this.rates(),
      // Early stopping may end the run sooner: this counts every epoch.
      etaText: rate && perEpoch ? etaText((total - done) / rate + (of - epoch) * perEpoch) : '',
    });
  }

  epoch(seconds: number): Progress {
    this.epochSeconds.push(seconds);
    return this.set({ rateText: this.rates() });
  }

  saving(): Progress {
    return this.set({ stage: 'saving', stageText: 'Saving the classifier', etaText: '' });
  }

  /** The job ended: 'Done', 'Cancelled', 'Failed'. */
  ended(stageText: string): Progress {
    return this.set({ stage: 'done', stageText, etaText: '' });
  }

  private meanEpochSeconds(): number | undefined {
    const e = this.epochSeconds;
    return e.length ? e.reduce((a, x) => a + x, 0) / e.length : undefined;
  }

  /** "12.5 images/s · 1.4 epochs/min": what fine-tuning has measured so far. */
  private rates(): string {
    const s = this.meanEpochSeconds();
    return [this.stepRate ? `${this.stepRate} images/s` : '', s ? `${(60 / s).toFixed(s > 60 ? 2 : 1)} epochs/min` : '']
      .filter(Boolean)
      .join(' · ');
  }
}

function extractText(split: 'train' | 'val'): string {
  return `Extracting features (${split === 'train' ? 'training' : 'validation'} photos)`;
}
