"""Per-frame PyTorch baseline for `npm run bench`: ffmpeg pipe -> Fast-SCNN -> overlay -> libx264.

  /usr/bin/python3 bench/pytorch_baseline.py CLIP OUT.mp4 [SEG_HxW] [FRAME_HxW] [PRESET] [CRF] [SCALE_FLAGS]

The same architecture as training/fast_scnn.py (random weights: this measures speed only),
2 threads, eval mode, no_grad. Frames are decoded at FRAME_HxW (default 540x960: ffmpeg scales,
as the offline graph's decoder does with maxSidePx), resized bilinearly to SEG_HxW for the
network (default: the frame size; the default graph feeds it 272x480), the class scores upsampled
back, argmax, blended (alpha 0.45) and encoded with libx264 PRESET (default ultrafast) at CRF
(default 23) — the default graph's encoder settings. SCALE_FLAGS (e.g. `area`, as the decoder uses
when it scales a video down) goes to ffmpeg's scale filter. Prints one JSON line.
"""
import json
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit('/', 2)[0] + '/training')
from fast_scnn import FastSCNN  # noqa: E402


def size(arg, default):
    return tuple(int(v) for v in arg.split('x')) if arg else default


clip, out = sys.argv[1], sys.argv[2]
H, W = size(sys.argv[4] if len(sys.argv) > 4 else '', (540, 960))
sh, sw = size(sys.argv[3] if len(sys.argv) > 3 else '', (H, W))
preset = sys.argv[5] if len(sys.argv) > 5 else 'ultrafast'
crf = sys.argv[6] if len(sys.argv) > 6 else '23'
flags = f':flags={sys.argv[7]}' if len(sys.argv) > 7 and sys.argv[7] else ''
torch.set_num_threads(2)
model = FastSCNN(11).eval()
pal = torch.randint(0, 255, (11, 3), dtype=torch.uint8).float()
mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
dec = subprocess.Popen(['ffmpeg', '-v', 'error', '-i', clip, '-an', '-vf', f'scale={W}:{H}{flags}', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], stdout=subprocess.PIPE)
enc = subprocess.Popen(['ffmpeg', '-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', f'{W}x{H}', '-r', '25', '-i', 'pipe:0',
                        '-c:v', 'libx264', '-preset', preset, '-crf', crf, '-pix_fmt', 'yuv420p', out], stdin=subprocess.PIPE)
n, t0 = 0, time.time()
with torch.no_grad():
    while True:
        buf = dec.stdout.read(W * H * 3)
        if len(buf) < W * H * 3:
            break
        img = torch.from_numpy(np.frombuffer(buf, np.uint8).reshape(H, W, 3).copy()).permute(2, 0, 1)[None].float()
        x = img if (sh, sw) == (H, W) else torch.nn.functional.interpolate(img, size=(sh, sw), mode='bilinear', align_corners=False)
        scores = model((x - mean) / std, full_size=False)
        labels = torch.nn.functional.interpolate(scores, size=(H, W), mode='bilinear', align_corners=False).argmax(1)[0]
        blend = (img[0].permute(1, 2, 0) * 0.55 + pal[labels] * 0.45).to(torch.uint8)
        enc.stdin.write(blend.numpy().tobytes())
        n += 1
enc.stdin.close()
enc.wait()
secs = time.time() - t0
print(json.dumps({'frames': n, 'seconds': round(secs, 2), 'fps': round(n / secs, 2), 'seg': f'{sw}x{sh}', 'frame': f'{W}x{H}'}))
