// The library API in one file: train on a folder of labelled photos, save, load, predict.
// Run: node --import tsx examples/library.ts DATA_DIR IMAGE [OUT_DIR]
import { trainClassifier, Classifier } from 'tl-transfer';

const [data = 'my-photos', image = 'photo.jpg', out = 'my-classifier'] = process.argv.slice(2);

// 1. Train a new softmax on frozen MobileNetV2 features (computed once, then read from the disk cache). Leave
//    `strategy` out and auto also tries fine-tuning (the last blocks, then the whole network) when the time budget
//    holds it, and keeps a try only when it beats this head on held-out training images.
const { classifier, metrics } = await trainClassifier(data, {
  strategy: 'head',
  seed: 1,
  onEvent: (e) => e.type === 'extract-done' && console.log(`${e.split}: ${e.embedded} embedded, ${e.cached} cached`),
});
console.log(`validation accuracy: ${(metrics.accuracy * 100).toFixed(1)}%`);
await classifier.save(out);
await classifier.dispose();

// 2. Later, anywhere: load the bundle and classify a photo.
const clf = await Classifier.load(out);
const p = await clf.predict(image);
console.log(p.unknown ? `unknown (closest: ${p.label})` : `${p.label} ${(p.probability * 100).toFixed(1)}%`);
console.log(JSON.stringify(p.top));
await clf.dispose();
