/**
 * Segmentation metrics from a confusion matrix (pure, no I/O).
 *
 * The confusion matrix `n` is K x K, row-major: `n[i*K + j]` counts pixels whose
 * ground truth is class i and whose prediction is class j (rows = ground truth,
 * columns = prediction). Ground-truth values outside 0..K-1 (CamVid's void = 11)
 * are ignored; a prediction outside 0..K-1 is a bug and throws.
 *
 * With t_i = Σ_j n_ij (ground-truth pixels of class i), p_j = Σ_i n_ij (pixels
 * predicted as j), T = Σ_i t_i, and everything as fractions 0..1:
 *
 * - pixel accuracy      Σ_i n_ii / T
 * - class accuracy      n_ii / t_i  (= recall)           undefined when t_i = 0
 * - precision           n_ii / p_i                       undefined when p_i = 0
 * - IoU                 n_ii / (t_i + p_i − n_ii)        undefined when t_i + p_i = 0
 * - F1 (Dice)           2 n_ii / (t_i + p_i)             undefined when t_i + p_i = 0
 *                       (= 2PR/(P+R) when both are defined; 0 for a class that is only
 *                       in the ground truth or only in the prediction)
 * - mean accuracy       mean of the defined class accuracies
 * - mIoU                mean of the defined IoUs
 * - frequency-weighted IoU   Σ_i t_i · IoU_i / T   (classes with t_i = 0 weigh nothing)
 * - normalised confusion     n_ij / t_i (row-normalised); a row with t_i = 0 is all NaN
 *
 * "Undefined" is NaN here (null in JSON) and is left out of every mean, so a class
 * absent from both the ground truth and the prediction neither helps nor hurts.
 * A class that is predicted but absent from the ground truth has IoU 0 and counts
 * in mIoU (a false alarm is an error); its accuracy/recall is NaN.
 */

export interface ClassMetrics {
  /** Ground-truth pixels of this class (t_i). */
  readonly support: number;
  /** Pixels predicted as this class (p_i). */
  readonly predicted: number;
  /** Correct pixels (n_ii). */
  readonly truePositives: number;
  readonly iou: number;
  readonly precision: number;
  /** = accuracy (per-class accuracy is recall). */
  readonly recall: number;
  readonly f1: number;
  readonly accuracy: number;
}

export interface Metrics {
  readonly numClasses: number;
  /** Non-void pixels counted (T). */
  readonly pixels: number;
  readonly pixelAccuracy: number;
  readonly meanAccuracy: number;
  readonly miou: number;
  readonly fwIoU: number;
  readonly perClass: readonly ClassMetrics[];
  /** Row-normalised confusion, K x K row-major, fractions 0..1 (NaN rows for absent classes). */
  readonly normalizedConfusion: Float64Array;
}

/** A K x K confusion matrix of zeros. Float64 so counts stay exact far past 2^32. */
export function createConfusion(numClasses: number): Float64Array {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new TypeError(`numClasses: expected an integer ≥ 1, got ${numClasses}`);
  return new Float64Array(numClasses * numClasses);
}

/**
 * Add one labelled image to `confusion` (in place). `gt` and `pred` are class-id
 * maps of the same length; ground-truth ids outside 0..K-1 (void) are skipped.
 * Returns the number of pixels counted.
 */
export function accumulate(confusion: Float64Array, numClasses: number, gt: ArrayLike<number>, pred: ArrayLike<number>): number {
  if (confusion.length !== numClasses * numClasses) throw new RangeError(`confusion: expected ${numClasses}x${numClasses} = ${numClasses * numClasses} cells, got ${confusion.length}`);
  if (gt.length !== pred.length) throw new RangeError(`prediction: expected ${gt.length} pixels (the label's), got ${pred.length}`);
  let counted = 0;
  for (let i = 0; i < gt.length; i++) {
    const g = gt[i]!;
    if (g >= numClasses || g < 0) continue; // void / ignore label
    const p = pred[i]!;
    if (p >= numClasses || p < 0) throw new RangeError(`prediction at pixel ${i}: expected a class id 0..${numClasses - 1}, got ${p}`);
    confusion[g * numClasses + p]!++;
    counted++;
  }
  return counted;
}

/** Mean of the values that are not NaN; NaN when there are none. */
export function nanMean(values: readonly number[]): number {
  let s = 0;
  let n = 0;
  for (const v of values) {
    if (!Number.isNaN(v)) {
      s += v;
      n++;
    }
  }
  return n ? s / n : NaN;
}

/** Every metric derived from a confusion matrix (see the module comment for definitions). */
export function computeMetrics(confusion: ArrayLike<number>, numClasses: number): Metrics {
  const K = numClasses;
  if (confusion.length !== K * K) throw new RangeError(`confusion: expected ${K}x${K} = ${K * K} cells, got ${confusion.length}`);
  const rows = new Float64Array(K);
  const cols = new Float64Array(K);
  let total = 0;
  let diag = 0;
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      const v = confusion[i * K + j]!;
      rows[i]! += v;
      cols[j]! += v;
      total += v;
    }
    diag += confusion[i * K + i]!;
  }
  const perClass: ClassMetrics[] = [];
  let fw = 0;
  for (let i = 0; i < K; i++) {
    const tp = confusion[i * K + i]!;
    const t = rows[i]!;
    const p = cols[i]!;
    const union = t + p - tp;
    const iou = union > 0 ? tp / union : NaN;
    const recall = t > 0 ? tp / t : NaN;
    const precision = p > 0 ? tp / p : NaN;
    const f1 = t + p > 0 ? (2 * tp) / (t + p) : NaN;
    if (t > 0) fw += t * iou;
    perClass.push({ support: t, predicted: p, truePositives: tp, iou, precision, recall, f1, accuracy: recall });
  }
  const normalizedConfusion = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    const t = rows[i]!;
    for (let j = 0; j < K; j++) normalizedConfusion[i * K + j] = t > 0 ? confusion[i * K + j]! / t : NaN;
  }
  return {
    numClasses: K,
    pixels: total,
    pixelAccuracy: total > 0 ? diag / total : NaN,
    meanAccuracy: nanMean(perClass.map((c) => c.accuracy)),
    miou: nanMean(perClass.map((c) => c.iou)),
    fwIoU: total > 0 ? fw / total : NaN,
    perClass,
    normalizedConfusion,
  };
}
