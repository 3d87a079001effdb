// The export's resize + crop rule (metadata.json `input`: resizeTo, crop), as plain numbers. A module of its own so
// that app.js draws with it and the toolkit's tests can check it against `tl predict`'s rule without a browser.

/**
 * For a photo of width x height (after EXIF orientation): the size it is resized to and the top-left corner of the
 * size x size crop. 'cover': shorter side to resizeTo, longer to round(longer * resizeTo / shorter); 'fill':
 * resizeTo x resizeTo. Crop at floor((resized - size) / 2) on each axis.
 */
export function resizeAndCrop(width, height, input) {
  const { size, resize, cropFraction } = input;
  const target = input.resizeTo ?? Math.round(size / (cropFraction ?? 1)); // exports before resizeTo existed
  const shorter = Math.min(width, height);
  const w = resize === 'cover' ? Math.round((width * target) / shorter) : target;
  const h = resize === 'cover' ? Math.round((height * target) / shorter) : target;
  return { width: w, height: h, left: Math.floor((w - size) / 2), top: Math.floor((h - size) / 2) };
}
