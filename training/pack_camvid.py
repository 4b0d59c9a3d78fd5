"""Pack CamVid train/val compactly for a trip to a GPU machine whose working tree is capped at 64 MiB.

  /usr/bin/python3 training/pack_camvid.py --out .gpu/camvid

Images become JPEG (quality 95, no chroma subsampling: mean absolute difference ~1.2 grey levels
from the PNGs, ~62 KiB each, ~29 MiB for the 468); labels stay PNG (lossless). File stems are kept,
so `train_gpu.py --data .gpu/camvid` reads the same splits and the same sequence prefixes.
The packed copy is for training runs only: it is ignored by git, and every figure we report comes
from `segflow eval` on the original PNGs.
"""
import argparse
import os
import shutil

from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data', 'camvid'))
    ap.add_argument('--out', required=True)
    ap.add_argument('--quality', type=int, default=95)
    a = ap.parse_args()
    if not os.path.isdir(a.data):
        raise SystemExit(f'CamVid not found at {a.data}: pass --data')
    total = 0
    for split in ('train', 'val'):
        src, dst = os.path.join(a.data, split), os.path.join(a.out, split)
        lsrc, ldst = src + 'annot', dst + 'annot'
        os.makedirs(dst, exist_ok=True)
        os.makedirs(ldst, exist_ok=True)
        for f in sorted(os.listdir(src)):
            if not f.endswith('.png'):
                continue
            out = os.path.join(dst, f[:-4] + '.jpg')
            Image.open(os.path.join(src, f)).convert('RGB').save(out, 'JPEG', quality=a.quality, subsampling=0)
            shutil.copyfile(os.path.join(lsrc, f), os.path.join(ldst, f))
            total += os.path.getsize(out) + os.path.getsize(os.path.join(ldst, f))
    print(f'packed into {a.out}: {total / 2**20:.1f} MiB')


if __name__ == '__main__':
    main()
