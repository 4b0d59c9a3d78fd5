"""Train the temporal fuser (fast_scnn.TemporalFuser) on top of a frozen Fast-SCNN. Resumable.

  /usr/bin/python3 training/train_fuser.py --base training/runs/camvid-strong-hold0001TP/last.pt \
      --run training/runs/fuser --steps 600

There is no labelled video at 30 fps here, so the clips are made from the CamVid training
stills by realistic camera motion (forward zoom, pan, a little roll), labels warped identically
(out-of-frame pixels are void): frame 0 is a key frame (the whole network), frames 1..T-1 run
the shallow branch and the fuser, carrying the deep-feature state forward; the loss is the
class-weighted cross-entropy of the head's scores on frames 1..T-1. Only the fuser learns.

Evaluation (every --eval-every steps and at the end): the same kind of clips made from the
*val* stills with a fixed seed; mIoU of the non-key frames for (a) plain reuse of the key
frame's deep features and (b) the fuser, per position after the key frame. Writes
<run>/last.pt (resume), <run>/log.jsonl.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fast_scnn import FUSERS, FastSCNN, arch_kwargs  # noqa: E402
from train import MEAN, STD, MEDFREQ, NCLS, VOID, load_split, confusion, miou  # noqa: E402


MOTION = {
    # per frame: forward zoom up to 5 %, pan up to 10 px (3 px vertically), roll up to 0.8 degrees
    'strong': dict(zoom=0.05, dx=10.0, dy=3.0, rot=0.8),
    # what the video evaluation (src/apps/eval/video.ts) uses: ~30 km/h at 30 fps
    'mild': dict(zoom=0.012, dx=2.0, dy=0.6, rot=0.15),
}


def motion_clip(img, lab, T, gen, flip=True, motion='strong', mix=False):
    """One clip of T frames from a still. img uint8 [3,H,W], lab long [H,W] ->
    float [T,3,H,W] (0..255), long [T,H,W]. Camera moves forward (zoom), pans and rolls, each
    drawn up to the maxima of MOTION[motion]; with `mix` the maxima are first scaled by one
    uniform draw in 0..1 per clip, so slow and still cameras are as common as fast ones."""
    mm = MOTION[motion]
    amp = gen.uniform(0.0, 1.0) if mix else 1.0
    _, H, W = img.shape
    x = img[None].float()
    y = lab[None, None].float()
    if flip and gen.random() < 0.5:
        x, y = x.flip(-1), y.flip(-1)
    k0 = gen.uniform(0.7, 1.0)                      # start zoomed in (room to pan)
    zoom = gen.uniform(0.0, mm['zoom'] * amp)       # per frame, forward motion
    dx, dy = gen.uniform(-mm['dx'], mm['dx']) * amp, gen.uniform(-mm['dy'], mm['dy']) * amp  # pixels per frame
    rot = math.radians(gen.uniform(-mm['rot'], mm['rot']) * amp)  # per frame
    cx0, cy0 = gen.uniform(-1, 1) * (1 - k0) * W / 2, gen.uniform(-1, 1) * (1 - k0) * H / 2
    thetas = []
    for t in range(T):
        k = k0 / (1 + zoom) ** t
        a = rot * t
        c, s = math.cos(a) * k, math.sin(a) * k
        # pixel map src = k R (dst - c) + c + shift, in affine_grid's normalised coordinates
        m = [[c, -s * H / W, (cx0 + dx * t) * 2 / W], [s * W / H, c, (cy0 + dy * t) * 2 / H]]
        thetas.append(m)
    theta = torch.tensor(thetas, dtype=torch.float32)
    grid = F.affine_grid(theta, (T, 3, H, W), align_corners=False)
    xs = F.grid_sample(x.expand(T, -1, -1, -1), grid, mode='bilinear', padding_mode='border', align_corners=False)
    inside = F.grid_sample(torch.ones(T, 1, H, W), grid, mode='nearest', padding_mode='zeros', align_corners=False)
    ys = F.grid_sample(y.expand(T, -1, -1, -1), grid, mode='nearest', padding_mode='border', align_corners=False)
    ys = torch.where(inside > 0.5, ys, torch.full_like(ys, VOID)).long()[:, 0]
    # one photometric draw per clip (a camera does not change its look frame to frame)
    xs = xs * gen.uniform(0.8, 1.2)
    m = xs.mean()
    xs = ((xs - m) * gen.uniform(0.8, 1.2) + m).clamp(0, 255)
    return xs, ys


def run_clip(model, fuser, xs, use_fuser):
    """xs normalised [B,T,3,H,W] -> scores for frames 1..T-1, [B,T-1,C,h,w] at 1/8."""
    B, T = xs.shape[:2]
    with torch.no_grad():
        highs = model.shallow(xs.flatten(0, 1)).unflatten(0, (B, T))
        state = fuser.init_state(model.deep(highs[:, 0]))
    out = []
    for t in range(1, T):
        if use_fuser:
            state = fuser(highs[:, t], state)
        out.append(model.head(highs[:, t], fuser.features(state)))
    return torch.stack(out, 1)


def upsampled(scores, size):
    B, T = scores.shape[:2]
    return F.interpolate(scores.flatten(0, 1), size=size, mode='bilinear', align_corners=False).unflatten(0, (B, T))


@torch.no_grad()
def evaluate(model, fuser, clips, reuse=True):
    """mIoU of non-key frames for plain reuse (unless `reuse` is False) and for the fuser, overall and per position."""
    res = {}
    for name, use in (('reuse', False), ('fuser', True)):
        if not use and not reuse:
            continue
        per_pos = None
        for xs, ys in clips:
            s = upsampled(run_clip(model, fuser, ((xs - MEAN) / STD)[None], use), ys.shape[1:])[0]
            pred = s.argmax(1)
            if per_pos is None:
                per_pos = [torch.zeros(NCLS, NCLS, dtype=torch.long) for _ in range(pred.shape[0])]
            for t in range(pred.shape[0]):
                per_pos[t] += confusion(pred[t].flatten(), ys[t + 1].flatten())
        res[name] = round(miou(sum(per_pos))[0], 2)
        res[name + '_by_pos'] = [round(miou(c)[0], 1) for c in per_pos]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data', 'camvid'))
    ap.add_argument('--base', required=True, help='Fast-SCNN checkpoint (frozen)')
    ap.add_argument('--run', required=True)
    ap.add_argument('--holdout', default='0001TP', help='training sequence prefix the base model did not see (skipped here too)')
    ap.add_argument('--steps', type=int, default=600)
    ap.add_argument('--batch', type=int, default=4)
    ap.add_argument('--frames', type=int, default=7, help='clip length: 1 key frame + frames-1 fused')
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--eval-every', type=int, default=100)
    ap.add_argument('--eval-clips', type=int, default=24)
    ap.add_argument('--motion', choices=sorted(MOTION), default='strong', help='training clips: motion maxima')
    ap.add_argument('--mix', action='store_true', help='scale the motion maxima per clip by a uniform draw in 0..1')
    ap.add_argument('--eval-only', default='', help='evaluate this fuser checkpoint on both clip sets and exit')
    ap.add_argument('--weight-power', type=float, default=None,
                    help='class weights = median-frequency weights ** P; default: the base run\'s (train_gpu.py --weight-power), else 1')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--no-reuse-eval', action='store_true',
                    help='evaluate the fuser only (plain reuse depends only on --base: see another fuser run on it); no step-0 evaluation')
    ap.add_argument('--init', default='', help='start from this fuser checkpoint\'s weights (e.g. the shipped fuser, for a base '
                    'network grown from its base: fast_scnn.grow), with a fresh optimiser and schedule')
    ap.add_argument('--cell', choices=sorted(FUSERS), default=None,
                    help='fuser cell: gru (TemporalFuser) or lstm (TemporalFuserLSTM); default gru, or the checkpoint\'s')
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = random.Random(a.seed)
    os.makedirs(a.run, exist_ok=True)
    keep = (lambda f: not f.startswith(a.holdout)) if a.holdout else None
    _, tr_x, tr_y = load_split(a.data, 'train', keep)
    _, va_x, va_y = load_split(a.data, 'val')
    egen = random.Random(12345)
    eval_clips = [motion_clip(va_x[i], va_y[i], a.frames, egen, flip=False)
                  for i in egen.sample(range(len(va_x)), a.eval_clips)]
    mgen = random.Random(12345)
    mild_clips = [motion_clip(va_x[i], va_y[i], a.frames, mgen, flip=False, motion='mild')
                  for i in mgen.sample(range(len(va_x)), a.eval_clips)]

    def evaluate_both(model, fuser):
        """`strong` clips (the fuser's first evaluation, kept for comparison) and `mild` ones."""
        reuse = not a.no_reuse_eval
        return {**evaluate(model, fuser, eval_clips, reuse),
                **{'mild_' + k: v for k, v in evaluate(model, fuser, mild_clips, reuse).items()}}

    base = torch.load(a.base, map_location='cpu')
    model = FastSCNN(NCLS, **arch_kwargs(base['args']))
    model.load_state_dict(base['model'])
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if a.eval_only and a.cell is None:
        a.cell = torch.load(a.eval_only, map_location='cpu').get('args', {}).get('cell') or 'gru'
    a.cell = a.cell or 'gru'
    fuser = FUSERS[a.cell](model.shallow.out_channels, model.deep.out_channels)
    print(f'fuser cell: {a.cell}, {sum(p.numel() for p in fuser.parameters())} parameters', flush=True)
    if a.eval_only:
        fuser.load_state_dict(torch.load(a.eval_only)['fuser'])
        fuser.eval()
        print(json.dumps({'eval_only': a.eval_only, **evaluate_both(model, fuser)}), flush=True)
        return
    if a.init:
        ik = torch.load(a.init, map_location='cpu')
        if (ik.get('args', {}).get('cell') or 'gru') != a.cell:
            raise SystemExit(f'{a.init} holds a {ik["args"].get("cell") or "gru"} fuser, not {a.cell}')
        fuser.load_state_dict(ik['fuser'])
        print(f'--init {a.init}: fuser weights copied', flush=True)
    opt = torch.optim.Adam(fuser.parameters(), lr=a.lr)
    if a.weight_power is None:
        a.weight_power = float(base.get('args', {}).get('weight_power', 1.0))
    weight = torch.tensor(MEDFREQ) ** a.weight_power
    print(f'class weights: median frequency ** {a.weight_power}', flush=True)
    start = 0
    last = os.path.join(a.run, 'last.pt')
    if os.path.exists(last):
        ck = torch.load(last)
        if ck.get('args', {}).get('cell', 'gru') != a.cell:
            raise SystemExit(f'{last} holds a {ck["args"].get("cell", "gru")} fuser, not {a.cell}')
        fuser.load_state_dict(ck['fuser'])
        opt.load_state_dict(ck['opt'])
        start = ck['step'] + 1
        gen.setstate(ck['rng'])
        print(f'resumed at step {start}', flush=True)
    elif a.eval_every and not a.no_reuse_eval:
        rec = {'step': 0, **evaluate_both(model, fuser)}
        print(json.dumps(rec), flush=True)

    t0, tot = time.time(), 0.0
    for step in range(start, a.steps):
        for g in opt.param_groups:
            g['lr'] = a.lr * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        idx = [gen.randrange(len(tr_x)) for _ in range(a.batch)]
        clips = [motion_clip(tr_x[i], tr_y[i], a.frames, gen, motion=a.motion, mix=a.mix) for i in idx]
        xs = (torch.stack([c[0] for c in clips]) - MEAN[None]) / STD[None]
        ys = torch.stack([c[1] for c in clips])[:, 1:]
        fuser.train()
        scores = upsampled(run_clip(model, fuser, xs, True), ys.shape[2:])
        loss = F.cross_entropy(scores.flatten(0, 1), ys.flatten(0, 1), weight=weight, ignore_index=VOID)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tot += float(loss)
        done = step + 1
        if done % a.eval_every == 0 or done == a.steps:
            fuser.eval()
            rec = {'step': done, 'loss': round(tot / a.eval_every, 4), 'sec': round(time.time() - t0, 1),
                   'lr': opt.param_groups[0]['lr'], **evaluate_both(model, fuser)}
            tot, t0 = 0.0, time.time()
            with open(os.path.join(a.run, 'log.jsonl'), 'a') as f:
                f.write(json.dumps(rec) + '\n')
            print(json.dumps(rec), flush=True)
        if done % 20 == 0 or done == a.steps:
            torch.save({'fuser': fuser.state_dict(), 'opt': opt.state_dict(), 'step': step, 'rng': gen.getstate(),
                        'args': vars(a), 'base': a.base}, last + '.tmp')
            os.replace(last + '.tmp', last)


if __name__ == '__main__':
    main()
