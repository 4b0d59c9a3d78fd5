"""Train Fast-SCNN on CamVid (11 classes, void=11 ignored). Resumable.

  /usr/bin/python3 training/train.py --run runs/camvid-hold0001TP --holdout 0001TP --epochs 100

Needs Debian's python3-torch, python3-numpy, python3-pil (see training/README.md).
Writes <run>/last.pt every epoch (resumes from it), <run>/best.pt (best val mIoU),
and <run>/log.jsonl (one line per evaluation). Data is read in place from
../shared/data/camvid; nothing is copied.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from fast_scnn import FastSCNN  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
MEDFREQ = [0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418, 0.6823, 6.2478, 7.3614]
NCLS, VOID = 11, 11


def load_split(root, split, names=None):
    img_dir, lab_dir = os.path.join(root, split), os.path.join(root, split + 'annot')
    files = sorted(f for f in os.listdir(img_dir) if f.endswith('.png'))
    if names is not None:
        files = [f for f in files if names(f)]
    imgs = np.stack([np.asarray(Image.open(os.path.join(img_dir, f)).convert('RGB')) for f in files])
    labs = np.stack([np.asarray(Image.open(os.path.join(lab_dir, f))) for f in files])
    return files, torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labs).long()


def photometric_strong(x, gen):
    """Lighting and camera variation beyond one sequence's look: exposure, contrast, saturation,
    white balance, gamma, blur, sensor noise, occasional grayscale. x: float [3,H,W] in 0..255."""
    x = x * gen.uniform(0.5, 1.5)
    m = x.mean()
    x = (x - m) * gen.uniform(0.6, 1.4) + m
    g = x.mean(0, keepdim=True)
    x = (x - g) * gen.uniform(0.5, 1.5) + g
    x = x * torch.tensor([gen.uniform(0.85, 1.15) for _ in range(3)]).view(3, 1, 1)
    x = 255.0 * (x.clamp(0, 255) / 255.0) ** gen.uniform(0.7, 1.5)
    if gen.random() < 0.2:
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None, :]) / 16.0
        x = F.conv2d(x[:, None], k[None, None], padding=1)[:, 0]
    if gen.random() < 0.3:
        x = x + torch.randn_like(x) * gen.uniform(2.0, 8.0)
    if gen.random() < 0.1:
        x = x.mean(0, keepdim=True).expand(3, -1, -1).clone()
    return x


def augment(img, lab, crop, scale_range, gen, strong=False):
    """img uint8 [3,H,W], lab long [H,W] -> float [3,ch,cw], long [ch,cw]."""
    s = gen.uniform(*scale_range)
    h, w = img.shape[1:]
    nh, nw = int(h * s + 0.5), int(w * s + 0.5)
    x = F.interpolate(img[None].float(), size=(nh, nw), mode='bilinear', align_corners=False)[0]
    y = F.interpolate(lab[None, None].float(), size=(nh, nw), mode='nearest')[0, 0].long()
    ch_, cw = crop
    ph, pw = max(0, ch_ - nh), max(0, cw - nw)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), value=0.0)
        y = F.pad(y, (0, pw, 0, ph), value=VOID)
    top = gen.randint(0, x.shape[1] - ch_)
    left = gen.randint(0, x.shape[2] - cw)
    x = x[:, top:top + ch_, left:left + cw]
    y = y[top:top + ch_, left:left + cw]
    if gen.random() < 0.5:
        x, y = x.flip(-1), y.flip(-1)
    if strong:
        return photometric_strong(x, gen).clamp(0, 255), y
    # colour: brightness, contrast, saturation
    x = x * gen.uniform(0.75, 1.25)
    m = x.mean()
    x = (x - m) * gen.uniform(0.75, 1.25) + m
    g = x.mean(0, keepdim=True)
    x = (x - g) * gen.uniform(0.7, 1.3) + g
    return x.clamp(0, 255), y


def confusion(pred, lab):
    k = lab != VOID
    return torch.bincount(lab[k] * NCLS + pred[k], minlength=NCLS * NCLS).view(NCLS, NCLS)


def miou(conf):
    conf = conf.double()
    inter = conf.diag()
    union = conf.sum(0) + conf.sum(1) - inter
    iou = inter / union.clamp(min=1)
    return float(iou.mean()) * 100, float(inter.sum() / conf.sum()) * 100, [round(float(v) * 100, 1) for v in iou]


@torch.no_grad()
def evaluate(model, imgs, labs, bs=8):
    model.eval()
    conf = torch.zeros(NCLS, NCLS, dtype=torch.long)
    for i in range(0, len(imgs), bs):
        x = (imgs[i:i + bs].float() - MEAN) / STD
        pred = model(x).argmax(1)
        conf += confusion(pred.flatten(), labs[i:i + bs].flatten())
    model.train()
    return miou(conf)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data', 'camvid'))
    ap.add_argument('--run', required=True)
    ap.add_argument('--holdout', default='', help='training sequence prefix to hold out (e.g. 0001TP)')
    ap.add_argument('--with-val', action='store_true', help='also train on val (final model)')
    ap.add_argument('--epochs', type=int, default=100)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--lr', type=float, default=0.045)
    ap.add_argument('--width', type=float, default=1.0)
    ap.add_argument('--crop', default='352x480')
    ap.add_argument('--scale', default='0.75,1.75')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--aug', choices=['basic', 'strong'], default='basic', help='photometric augmentation')
    ap.add_argument('--eval-every', type=int, default=5)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--init', default='', help='start from these weights (a checkpoint) with a fresh optimiser and schedule')
    a = ap.parse_args()

    if not os.path.isdir(a.data):
        sys.exit(f'CamVid not found at {a.data}: pass --data')
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = random.Random(a.seed)
    os.makedirs(a.run, exist_ok=True)
    crop = tuple(int(v) for v in a.crop.split('x'))
    scale = tuple(float(v) for v in a.scale.split(','))

    keep = (lambda f: not f.startswith(a.holdout)) if a.holdout else None
    _, tr_x, tr_y = load_split(a.data, 'train', keep)
    _, va_x, va_y = load_split(a.data, 'val')
    ho = load_split(a.data, 'train', lambda f: f.startswith(a.holdout)) if a.holdout else None
    if a.with_val:
        tr_x, tr_y = torch.cat([tr_x, va_x]), torch.cat([tr_y, va_y])
    print(f'train {len(tr_x)} val {len(va_x)} holdout {len(ho[1]) if ho else 0}', flush=True)

    model = FastSCNN(NCLS, a.width)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=4e-5)
    weight = torch.tensor(MEDFREQ)
    start, best = 0, -1.0
    last = os.path.join(a.run, 'last.pt')
    if os.path.exists(last):
        ck = torch.load(last)
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        start, best = ck['epoch'] + 1, ck['best']
        gen.setstate(ck['rng'])
        torch.set_rng_state(ck['torch_rng'])
        print(f'resumed at epoch {start}, best {best:.2f}', flush=True)
    elif a.init:
        model.load_state_dict(torch.load(a.init)['model'])
        print(f'initialised from {a.init}', flush=True)

    steps_per_epoch = len(tr_x) // a.batch
    total = a.epochs * steps_per_epoch
    model.train()
    for epoch in range(start, a.epochs):
        t0 = time.time()
        order = list(range(len(tr_x)))
        gen.shuffle(order)
        tot_loss = 0.0
        for s in range(steps_per_epoch):
            it = epoch * steps_per_epoch + s
            for g in opt.param_groups:
                g['lr'] = a.lr * (1 - it / total) ** 0.9
            idx = order[s * a.batch:(s + 1) * a.batch]
            pairs = [augment(tr_x[i], tr_y[i], crop, scale, gen, a.aug == 'strong') for i in idx]
            x = (torch.stack([p[0] for p in pairs]) - MEAN) / STD
            y = torch.stack([p[1] for p in pairs])
            loss = F.cross_entropy(model(x), y, weight=weight, ignore_index=VOID)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot_loss += float(loss)
        rec = {'epoch': epoch, 'loss': round(tot_loss / steps_per_epoch, 4), 'sec': round(time.time() - t0, 1),
               'lr': opt.param_groups[0]['lr']}
        if (epoch + 1) % a.eval_every == 0 or epoch + 1 == a.epochs:
            rec['val_miou'], rec['val_pa'], rec['val_iou'] = evaluate(model, va_x, va_y)
            if ho:
                rec['holdout_miou'], rec['holdout_pa'], rec['holdout_iou'] = evaluate(model, ho[1], ho[2])
            if rec['val_miou'] > best:
                best = rec['val_miou']
                torch.save({'model': model.state_dict(), 'epoch': epoch, 'metrics': rec, 'args': vars(a)},
                           os.path.join(a.run, 'best.pt'))
        torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'epoch': epoch, 'best': best,
                    'rng': gen.getstate(), 'torch_rng': torch.get_rng_state(), 'args': vars(a), 'metrics': rec},
                   last + '.tmp')
        os.replace(last + '.tmp', last)
        with open(os.path.join(a.run, 'log.jsonl'), 'a') as f:
            f.write(json.dumps(rec) + '\n')
        print(json.dumps(rec), flush=True)


if __name__ == '__main__':
    main()
