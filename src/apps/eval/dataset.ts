/**
 * Pairs images with their class-id label PNGs (same file name, or same stem
 * with .png when the image is a JPEG) and decodes them with sharp. Pairing reads
 * only the PNG headers, so every problem (no label, size mismatch, a label that
 * is not 8-bit single-channel) is known before a model is loaded.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

export const IMAGE_EXTS = ['.png', '.jpg', '.jpeg'] as const;

export interface Pair {
  readonly name: string;
  readonly image: string;
  readonly label: string;
  readonly width: number;
  readonly height: number;
}

export interface Unpaired {
  readonly name: string;
  readonly reason: string;
}

export interface Pairing {
  readonly pairs: Pair[];
  readonly unpaired: Unpaired[];
  /** Images found in the images folder. */
  readonly imageCount: number;
}

function isImage(f: string): boolean {
  return (IMAGE_EXTS as readonly string[]).includes(path.extname(f).toLowerCase());
}

/** Files sorted by name (code-point order), so `--limit N` always takes the same N. */
export function listImages(dir: string): string[] {
  return readdirSync(dir).filter((f) => isImage(f) && statSync(path.join(dir, f)).isFile()).sort();
}

/** The label file for an image name, or undefined. */
function labelFor(labelsDir: string, name: string): string | undefined {
  const same = path.join(labelsDir, name);
  if (existsSync(same)) return same;
  const png = path.join(labelsDir, `${path.parse(name).name}.png`);
  return existsSync(png) ? png : undefined;
}

/** Match every image in `imagesDir` to a label in `labelsDir`, checking headers only. */
export async function pairFiles(imagesDir: string, labelsDir: string): Promise<Pairing> {
  const names = listImages(imagesDir);
  const pairs: Pair[] = [];
  const unpaired: Unpaired[] = [];
  for (const name of names) {
    const image = path.join(imagesDir, name);
    const label = labelFor(labelsDir, name);
    if (!label) {
      unpaired.push({ name, reason: `no label: expected ${path.join(labelsDir, name)}` });
      continue;
    }
    try {
      const [im, lm] = await Promise.all([sharp(image).metadata(), sharp(label).metadata()]);
      if (lm.isPalette || lm.channels !== 1 || lm.depth !== 'uchar') {
        unpaired.push({ name, reason: `label ${label}: expected an 8-bit single-channel class-id PNG, got ${lm.isPalette ? 'a palette' : `${lm.channels}-channel ${lm.depth}`} image` });
        continue;
      }
      if (im.width !== lm.width || im.height !== lm.height) {
        unpaired.push({ name, reason: `size mismatch: image ${im.width}x${im.height} (WxH), label ${lm.width}x${lm.height}` });
        continue;
      }
      pairs.push({ name, image, label, width: im.width, height: im.height });
    } catch (e) {
      unpaired.push({ name, reason: `unreadable: ${(e as Error).message}` });
    }
  }
  return { pairs, unpaired, imageCount: names.length };
}

/** RGB24, HWC. */
export async function readRgb(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${file}: expected 3 channels after conversion to sRGB, got ${info.channels}`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/** One byte per pixel: the class id. */
export async function readLabel(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(file).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}
