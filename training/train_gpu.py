"""Train Fast-SCNN on CamVid with the whole input pipeline on the accelerator (long runs on a GPU).

  python3 training/train_gpu.py --data .gpu/camvid --name strong-train --out OUT \
      --aug strong --scale 0.5,2.0 --epochs 1000 --time-budget 420

The recipe is train.py's (random scale, 352x480 crops, flips, photometric augmentation,
median-frequency class-weighted cross-entropy ignoring void, SGD momentum 0.9, weight decay 4e-5,
poly learning-rate decay), but augmentation is batched tensor work on the training device: one
sampling grid per image does scale, crop, padding and flip at once (bilinear for the image,
nearest for the labels, void outside the image), and the photometric changes are per-image
factors. On 2 CPU cores train.py spends most of an epoch in its per-image Python loop; here the
device is never waiting for it, so a run of 1,000 epochs takes minutes on one GPU.

--time-budget S fixes the number of epochs after the first few, from their measured speed, so that
the run (and its poly schedule) ends inside S seconds; the log says which number it chose.

Everything a run keeps is one file, OUT/NAME.pt, rewritten atomically at every evaluation:
{'last', 'best'} state dicts (CPU float32), 'best_metrics', 'log' (one dict per evaluation),
'args'. `unpack` turns it into the checkpoint layout export.py and finish.sh read:

  /usr/bin/python3 training/train_gpu.py unpack OUT/NAME.pt training/runs/NAME

With --slim the bundle keeps only the weights the run ends with (the EMA when --ema is on), in
float16, and no 'last'/'best' copies: a `strong` network's three float32 state dicts (~67 MB) would
not fit the 16 MiB a device call may return per file; unpack writes them as best.pt and last.pt
(float32 again).

Standard protocol (issue 13): --with-val trains on train + val (468 images); --holdout SEQ leaves
one sequence out of everything trained on (from val too, when --with-val: 0016E5 is val's sequence)
and evaluates on it, which chooses the recipe.

Works on a CPU too (slowly), which is how it is tested before it travels.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from fast_scnn import ARCHS, FastSCNN, arch_kwargs, grow  # noqa: E402
from train import MEDFREQ, NCLS, VOID, confusion, miou as miou_cpu  # noqa: E402


def load_split(root, split, keep=None):
    """Images (.png or .jpg) and label PNGs with the same stem -> uint8 [N,3,H,W], uint8 [N,H,W]."""
    img_dir, lab_dir = os.path.join(root, split), os.path.join(root, split + 'annot')
    files = sorted(f for f in os.listdir(img_dir) if f.endswith(('.png', '.jpg')))
    if keep is not None:
        files = [f for f in files if keep(f)]
    if not files:
        return files, None, None
    imgs = np.stack([np.asarray(Image.open(os.path.join(img_dir, f)).convert('RGB')) for f in files])
    labs = np.stack([np.asarray(Image.open(os.path.join(lab_dir, os.path.splitext(f)[0] + '.png'))) for f in files])
    return files, torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labs).contiguous()


def u(n, lo, hi, g, dev):
    return torch.rand(n, generator=g, device=dev) * (hi - lo) + lo


def geometric(imgs, labs, crop, scale, g):
    """Random scale, crop (padding with void where the scaled image is smaller) and horizontal flip
    for a batch, through one sampling grid per image. imgs uint8 [B,3,H,W], labs uint8 [B,H,W]
    -> float [B,3,ch,cw] in 0..255, long [B,ch,cw]."""
    dev = imgs.device
    b, _, h, w = imgs.shape
    ch_, cw = crop
    s = u(b, scale[0], scale[1], g, dev)
    nh, nw = h * s, w * s
    top = (torch.rand(b, generator=g, device=dev) * ((nh - ch_).clamp(min=0) + 1)).floor().clamp(max=(nh - ch_).clamp(min=0))
    left = (torch.rand(b, generator=g, device=dev) * ((nw - cw).clamp(min=0) + 1)).floor().clamp(max=(nw - cw).clamp(min=0))
    flip = torch.rand(b, generator=g, device=dev) < 0.5
    i = torch.arange(ch_, device=dev, dtype=torch.float32)
    j = torch.arange(cw, device=dev, dtype=torch.float32)
    jj = torch.where(flip[:, None], (cw - 1) - j[None], j[None])              # [B,cw]
    # output pixel centre -> source pixel coordinate (align_corners=False convention)
    ys = (top[:, None] + i[None] + 0.5) / s[:, None] - 0.5                    # [B,ch]
    xs = (left[:, None] + jj + 0.5) / s[:, None] - 0.5                        # [B,cw]
    yn = (ys + 0.5) / h * 2 - 1
    xn = (xs + 0.5) / w * 2 - 1
    grid = torch.stack([xn[:, None, :].expand(b, ch_, cw), yn[:, :, None].expand(b, ch_, cw)], -1)
    x = F.grid_sample(imgs.float(), grid, mode='bilinear', padding_mode='zeros', align_corners=False)
    y = F.grid_sample(labs[:, None].float(), grid, mode='nearest', padding_mode='border', align_corners=False)[:, 0]
    inside = (ys > -0.5)[:, :, None] & (ys < h - 0.5)[:, :, None] & (xs > -0.5)[:, None, :] & (xs < w - 0.5)[:, None, :]
    y = torch.where(inside, y, torch.full_like(y, VOID)).round().long()
    x = x * inside[:, None]
    return x, y


def photometric(x, g, strong):
    """Per-image exposure, contrast, saturation (and with `strong`: white balance, gamma, blur,
    sensor noise, occasional grayscale) as in train.py. x float [B,3,H,W] in 0..255."""
    dev = x.device
    b = x.shape[0]

    def f(lo, hi):
        return u(b, lo, hi, g, dev).view(b, 1, 1, 1)

    def p(prob):
        return (torch.rand(b, generator=g, device=dev) < prob).view(b, 1, 1, 1)

    if not strong:
        x = x * f(0.75, 1.25)
        m = x.mean((1, 2, 3), keepdim=True)
        x = (x - m) * f(0.75, 1.25) + m
        gray = x.mean(1, keepdim=True)
        x = (x - gray) * f(0.7, 1.3) + gray
        return x.clamp(0, 255)
    x = x * f(0.5, 1.5)
    m = x.mean((1, 2, 3), keepdim=True)
    x = (x - m) * f(0.6, 1.4) + m
    gray = x.mean(1, keepdim=True)
    x = (x - gray) * f(0.5, 1.5) + gray
    x = x * (torch.rand(b, 3, 1, 1, generator=g, device=dev) * 0.3 + 0.85)
    x = 255.0 * (x.clamp(0, 255) / 255.0) ** f(0.7, 1.5)
    k = torch.tensor([1.0, 2.0, 1.0], device=dev)
    k = ((k[:, None] * k[None, :]) / 16.0).expand(3, 1, 3, 3).contiguous()
    x = torch.where(p(0.2), F.conv2d(x, k, padding=1, groups=3), x)
    noise = torch.randn(x.shape, generator=g, device=dev) * f(2.0, 8.0)
    x = torch.where(p(0.3), x + noise, x)
    x = torch.where(p(0.1), x.mean(1, keepdim=True).expand_as(x), x)
    return x.clamp(0, 255)


def miou(conf):
    """train.py's mIoU, pixel accuracy and per-class IoU of a confusion matrix on any device; the
    two summary figures rounded to 0.01 for the log."""
    m, pa, iou = miou_cpu(conf.cpu())
    return round(m, 2), round(pa, 2), iou


@torch.no_grad()
def evaluate(model, imgs, labs, mean, std, amp, bs=16):
    model.eval()
    conf = torch.zeros(NCLS, NCLS, dtype=torch.long, device=imgs.device)
    for i in range(0, len(imgs), bs):
        x = ((imgs[i:i + bs].float() - mean) / std).contiguous(memory_format=torch.channels_last)
        with torch.autocast(imgs.device.type, dtype=torch.bfloat16, enabled=amp):
            pred = model(x).float().argmax(1)
        conf += confusion(pred.flatten(), labs[i:i + bs].long().flatten())
    model.train()
    return miou(conf)


class AuxHeads(torch.nn.Module):
    """Training-only classifiers on the shallow (1/8) and deep (1/32) features, as in the Fast-SCNN
    paper's auxiliary losses (weight 0.4 there). They are not part of FastSCNN's state dict, so
    export and the runtime never see them."""

    def __init__(self, c_high, c_low):
        super().__init__()

        def head(c):
            return torch.nn.Sequential(torch.nn.Conv2d(c, c, 3, padding=1, bias=False), torch.nn.BatchNorm2d(c),
                                       torch.nn.ReLU(inplace=True), torch.nn.Dropout(0.1), torch.nn.Conv2d(c, NCLS, 1))
        self.high, self.low = head(c_high), head(c_low)


def forward_train(model, aux, x):
    """Main scores at input size, plus the auxiliary heads' (also at input size) when `aux` is set."""
    if aux is None:
        return model(x), []
    high = model.shallow(x)
    low = model.deep(high)
    size = x.shape[2:]
    main = F.interpolate(model.head(high, low), size=size, mode='bilinear', align_corners=False)
    return main, [F.interpolate(aux.high(high), size=size, mode='bilinear', align_corners=False),
                  F.interpolate(aux.low(low), size=size, mode='bilinear', align_corners=False)]


class EMA:
    """An exponential moving average of a model's weights (and a copy of its batch-norm statistics),
    updated after every optimiser step: ema = d * ema + (1 - d) * weights."""

    def __init__(self, model, decay):
        import copy
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        src = [v for v in model.state_dict().values()]
        dst = [v for v in self.model.state_dict().values()]
        fl_d = [d for d, s in zip(dst, src) if d.is_floating_point()]
        fl_s = [s for d, s in zip(dst, src) if d.is_floating_point()]
        torch._foreach_mul_(fl_d, self.decay)
        torch._foreach_add_(fl_d, fl_s, alpha=1 - self.decay)
        for d, s in zip(dst, src):
            if not d.is_floating_point():
                d.copy_(s)


def cpu_state(model):
    return {k: v.detach().float().cpu().clone() if v.is_floating_point() else v.detach().cpu().clone()
            for k, v in model.state_dict().items()}


def unpack(bundle, run_dir):
    b = torch.load(bundle, map_location='cpu')
    os.makedirs(run_dir, exist_ok=True)
    if b.get('slim') is not None:  # --slim: one float16 state, the weights the run ended with
        state = {k: v.float() if v.is_floating_point() else v for k, v in b['slim'].items()}
        rec = b['log'][-1] if b['log'] else {}
        for f in ('last.pt', 'best.pt'):
            torch.save({'model': state, 'epoch': rec.get('epoch', -1), 'metrics': rec, 'args': b['args']}, os.path.join(run_dir, f))
        with open(os.path.join(run_dir, 'log.jsonl'), 'w') as f:
            for rec in b['log']:
                f.write(json.dumps(rec) + '\n')
        print(f'{run_dir}: best.pt = last.pt (the end of the run, {"EMA" if b["args"].get("ema") else "raw"}), log.jsonl')
        return
    torch.save({'model': b['last'], 'epoch': b['log'][-1]['epoch'] if b['log'] else -1,
                'metrics': b['log'][-1] if b['log'] else {}, 'args': b['args']}, os.path.join(run_dir, 'last.pt'))
    if b.get('ema') is not None:
        torch.save({'model': b['ema'], 'epoch': b['log'][-1]['epoch'] if b['log'] else -1,
                    'metrics': b['log'][-1] if b['log'] else {}, 'args': b['args']}, os.path.join(run_dir, 'ema.pt'))
    if b.get('best') is not None:
        torch.save({'model': b['best'], 'epoch': b['best_metrics']['epoch'], 'metrics': b['best_metrics'], 'args': b['args']},
                   os.path.join(run_dir, 'best.pt'))
    with open(os.path.join(run_dir, 'log.jsonl'), 'w') as f:
        for rec in b['log']:
            f.write(json.dumps(rec) + '\n')
    print(f'{run_dir}: last.pt{", ema.pt" if b.get("ema") is not None else ""} (epoch {b["log"][-1]["epoch"] if b["log"] else "-"}), best.pt, log.jsonl')


def main():
    if len(sys.argv) > 1 and sys.argv[1] == 'unpack':
        if len(sys.argv) != 4:
            raise SystemExit('usage: train_gpu.py unpack BUNDLE.pt RUN_DIR')
        return unpack(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True, help='CamVid folder (the original, or pack_camvid.py output)')
    ap.add_argument('--name', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--holdout', default='', help='training sequence prefix to hold out (e.g. 0001TP)')
    ap.add_argument('--with-val', action='store_true', help='also train on val')
    ap.add_argument('--epochs', type=int, default=1000)
    ap.add_argument('--time-budget', type=float, default=0, help='seconds; 0 = run --epochs')
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--lr', type=float, default=0.045)
    ap.add_argument('--width', type=float, default=1.0, help='width multiplier of the fast preset')
    ap.add_argument('--arch', choices=sorted(ARCHS), default='fast', help='network preset (fast_scnn.ARCHS)')
    ap.add_argument('--init', default='', help='warm start: a checkpoint (or bundle) whose weights are copied where names and '
                                               'shapes match (new optimiser and schedule)')
    ap.add_argument('--grow', default='', help='warm start that computes exactly what this checkpoint of a smaller network '
                    'computes (fast_scnn.grow: wider and deeper deep-branch bottlenecks added as zeros / identities)')
    ap.add_argument('--lr-rest', type=float, default=1.0,
                    help='learning rate of the shallow branch and the head as a fraction of --lr (the deep branch gets --lr)')
    ap.add_argument('--resume', action='store_true', help='continue OUT/NAME.pt where it stopped (its weights, optimiser, epoch)')
    ap.add_argument('--slim', action='store_true', help='bundle only the final weights, in float16 (see the docstring)')
    ap.add_argument('--max-steps', type=int, default=0, help='stop after this many optimiser steps (a smoke test; 0 = no limit)')
    ap.add_argument('--crop', default='352x480')
    ap.add_argument('--scale', default='0.5,2.0')
    ap.add_argument('--aug', choices=['basic', 'strong'], default='strong')
    ap.add_argument('--aux', type=float, default=0.0, help='weight of the auxiliary losses (0 = none; the paper: 0.4)')
    ap.add_argument('--weight-power', type=float, default=1.0,
                    help='class weights = median-frequency weights ** P (1 = full balancing, 0 = none)')
    ap.add_argument('--ema', type=float, default=0.0,
                    help='keep an exponential moving average of the weights with this decay per step (0 = off); '
                         'the average is what is evaluated, selected and kept as best')
    ap.add_argument('--eval-every', type=int, default=10)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    a = ap.parse_args()

    t_start = time.time()
    if not os.path.isdir(a.data):
        raise SystemExit(f'CamVid not found at {a.data}')
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    amp = dev.type == 'cuda'
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(a.seed)
    g = torch.Generator(device=dev)
    g.manual_seed(a.seed)
    crop = tuple(int(v) for v in a.crop.split('x'))
    scale = tuple(float(v) for v in a.scale.split(','))
    os.makedirs(a.out, exist_ok=True)
    bundle_path = os.path.join(a.out, a.name + '.pt')

    keep = (lambda f: not f.startswith(a.holdout)) if a.holdout else None
    held = (lambda f: f.startswith(a.holdout)) if a.holdout else None
    _, tr_x, tr_y = load_split(a.data, 'train', keep)
    _, va_x, va_y = load_split(a.data, 'val')
    _, ho_x, ho_y = load_split(a.data, 'train', held) if a.holdout else ([], None, None)
    if a.with_val:
        # The held-out sequence stays out of training whichever split its images are in.
        _, vk_x, vk_y = load_split(a.data, 'val', keep)
        if vk_x is not None:
            tr_x, tr_y = torch.cat([tr_x, vk_x]), torch.cat([tr_y, vk_y])
        if a.holdout:
            _, vh_x, vh_y = load_split(a.data, 'val', held)
            if vh_x is not None:
                ho_x, ho_y = (vh_x, vh_y) if ho_x is None else (torch.cat([ho_x, vh_x]), torch.cat([ho_y, vh_y]))
    if tr_x is None or (a.holdout and ho_x is None):
        raise SystemExit(f'no training images, or none of sequence {a.holdout!r} to hold out, in {a.data}')
    tr_x, tr_y, va_x, va_y = tr_x.to(dev), tr_y.to(dev), va_x.to(dev), va_y.to(dev)
    if ho_x is not None:
        ho_x, ho_y = ho_x.to(dev), ho_y.to(dev)
    n = len(tr_x)
    print(f'[{a.name}] train {n} val {len(va_x)} holdout {0 if ho_x is None else len(ho_x)} on {dev}', flush=True)

    mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1) * 255
    model = FastSCNN(NCLS, **arch_kwargs(vars(a)))
    if a.init:
        ik = torch.load(a.init, map_location='cpu')
        src = ik.get('model') or ik.get('slim') or ik.get('ema') or ik.get('last')
        own = model.state_dict()
        hit = {k: v.float() if v.is_floating_point() else v for k, v in src.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(hit, strict=False)
        print(f'[{a.name}] --init {a.init}: {len(hit)} of {len(own)} tensors copied', flush=True)
    if a.grow:
        gk = torch.load(a.grow, map_location='cpu')
        gsrc = gk.get('model') or gk.get('slim') or gk.get('ema') or gk.get('last')
        gstate, gnew = grow({k: v.float() if v.is_floating_point() else v for k, v in gsrc.items()}, model)
        model.load_state_dict(gstate)
        print(f'[{a.name}] --grow {a.grow}: every tensor from it, {len(gnew)} new ones (identity blocks), '
              f'widened bottlenecks zero-projected', flush=True)
    model = model.to(dev).to(memory_format=torch.channels_last)
    aux = AuxHeads(model.shallow.out_channels, model.deep.out_channels).to(dev).to(memory_format=torch.channels_last) \
        if a.aux > 0 else None
    params = list(model.parameters()) + (list(aux.parameters()) if aux is not None else [])
    deep_ids = {id(p) for p in model.deep.parameters()}
    groups = [{'params': [p for p in params if id(p) in deep_ids], 'scale': 1.0},
              {'params': [p for p in params if id(p) not in deep_ids], 'scale': a.lr_rest}]
    opt = torch.optim.SGD(groups, lr=a.lr, momentum=0.9, weight_decay=4e-5)
    weight = torch.tensor(MEDFREQ, device=dev) ** a.weight_power
    ema = EMA(model, a.ema) if a.ema > 0 else None
    steps = n // a.batch
    epochs = a.epochs
    log, best, best_state, best_metrics = [], -1.0, None, None
    fixed = a.time_budget <= 0

    def save():
        tmp = bundle_path + '.tmp'
        if a.slim:
            final = cpu_state(ema.model if ema else model)
            torch.save({'slim': {k: v.half() if v.is_floating_point() else v for k, v in final.items()},
                        'log': log, 'args': {**vars(a), 'epochs_run': epochs}}, tmp)
        else:
            torch.save({'last': cpu_state(model), 'ema': cpu_state(ema.model) if ema else None, 'best': best_state,
                        'best_metrics': best_metrics, 'log': log, 'args': {**vars(a), 'epochs_run': epochs},
                        'resume': {'epoch': epoch + 1, 'opt': opt.state_dict(), 'epochs': epochs, 'fixed': fixed,
                                   'best': best, 'aux': aux.state_dict() if aux is not None else None}}, tmp)
        os.replace(tmp, bundle_path)

    model.train()
    t_train = time.time()
    epoch = 0
    step_count = 0
    warm_from = 5  # --time-budget: the speed is measured over epochs warm_from .. warm_from + 9
    if a.resume and os.path.exists(bundle_path):
        rb = torch.load(bundle_path, map_location='cpu')
        if rb.get('resume') is None:
            raise SystemExit(f'{bundle_path} cannot be resumed (a --slim bundle, or written before --resume existed)')
        r = rb['resume']
        model.load_state_dict(rb['last'])
        if ema is not None and rb.get('ema') is not None:
            ema.model.load_state_dict(rb['ema'])
        if aux is not None and r.get('aux') is not None:
            aux.load_state_dict(r['aux'])
        opt.load_state_dict(r['opt'])
        epoch, epochs, fixed, best = r['epoch'], r['epochs'], r['fixed'], r['best']
        log, best_state, best_metrics = rb['log'], rb['best'], rb['best_metrics']
        g.manual_seed(a.seed + epoch)  # a fresh, reproducible stream from the resumed epoch
        # an unfixed --time-budget is measured again after the restart, and counts from it
        warm_from = max(5, epoch + 1)
        print(f'[{a.name}] resumed at epoch {epoch} of {epochs}', flush=True)
    while epoch < epochs:
        t0 = time.time()
        perm = torch.randperm(n, generator=g, device=dev)
        tot = torch.zeros((), device=dev)
        for s in range(steps):
            it = epoch * steps + s
            for pg in opt.param_groups:
                pg['lr'] = pg['scale'] * a.lr * max(0.0, 1 - it / (epochs * steps)) ** 0.9
            idx = perm[s * a.batch:(s + 1) * a.batch]
            x, y = geometric(tr_x[idx], tr_y[idx], crop, scale, g)
            x = ((photometric(x, g, a.aug == 'strong') - mean) / std).contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                out, extra = forward_train(model, aux, x)
            loss = F.cross_entropy(out.float(), y, weight=weight, ignore_index=VOID)
            for e in extra:
                loss = loss + a.aux * F.cross_entropy(e.float(), y, weight=weight, ignore_index=VOID)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update(model)
            tot += loss.detach()
            step_count += 1
            if a.max_steps and step_count >= a.max_steps:
                break
        if a.max_steps and step_count >= a.max_steps:
            epochs = epoch + 1  # a smoke test: evaluate and stop
        rec = {'epoch': epoch, 'loss': round(float(tot) / max(1, min(steps, step_count)), 4), 'sec': round(time.time() - t0, 2),
               'lr': round(opt.param_groups[0]['lr'], 6), 'elapsed': round(time.time() - t_start, 1)}
        last = epoch + 1 == epochs
        if (epoch + 1) % a.eval_every == 0 or last:
            if ema is not None:  # the raw weights' figures too, under raw_*
                rec['raw_val_miou'] = evaluate(model, va_x, va_y, mean, std, amp)[0]
                if ho_x is not None:
                    rec['raw_holdout_miou'] = evaluate(model, ho_x, ho_y, mean, std, amp)[0]
            kept = ema.model if ema is not None else model
            rec['val_miou'], rec['val_pa'], rec['val_iou'] = evaluate(kept, va_x, va_y, mean, std, amp)
            if ho_x is not None:
                rec['holdout_miou'], rec['holdout_pa'], rec['holdout_iou'] = evaluate(kept, ho_x, ho_y, mean, std, amp)
            if rec['val_miou'] > best:
                best, best_state, best_metrics = rec['val_miou'], cpu_state(kept), dict(rec)
            log.append(rec)
            save()
            print(json.dumps(rec), flush=True)
        elif a.resume:  # every epoch can be resumed from
            save()
            print(json.dumps(rec), flush=True)
        if epoch + 1 == warm_from:
            t_warm = time.time()  # epochs 0-4 include cuDNN autotuning and start-up: not a speed
        if not fixed and epoch + 1 == warm_from + 10:
            per_epoch = (time.time() - t_warm) / 10
            left = a.time_budget - (time.time() - t_start)
            epochs = min(a.epochs, max(epoch + 2, int(epoch + 1 + left / (per_epoch * 1.05))))
            fixed = True
            log.append({'epoch': epoch, 'note': f'{per_epoch:.2f} s/epoch over epochs {warm_from}-{warm_from + 9}; '
                                                f'{left:.0f} s left of {a.time_budget:.0f}: {epochs} epochs'})
            print(f'[{a.name}] {log[-1]["note"]}', flush=True)
        epoch += 1
    save()
    print(f'[{a.name}] done: {epochs} epochs in {time.time() - t_start:.0f} s, best val {best:.2f}', flush=True)


if __name__ == '__main__':
    main()
