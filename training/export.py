"""Export a trained Fast-SCNN checkpoint for the segflow runtime.

  /usr/bin/python3 training/export.py --ckpt training/runs/camvid-hold0001TP/best.pt \
      --out models/fast-scnn-camvid --name fast-scnn-camvid

Writes, into --out:
  shallow.onnx   image [1,3,H,W] (normalised)  -> high [1,64,H/8,W/8]
  deep.onnx      high                          -> low  [1,128,H/32,W/32]
  head.onnx      high, low                     -> scores [1,C,H/8,W/8]
  upsample.onnx  scores, size int64[2]         -> labels uint8 [1,H,W] (bilinear up + argmax)
  fuser.onnx     high, state                   -> next (only with --fuser: the temporal fuser, whose
                 state stands in for the deep features; the gru cell's state is [1,128,H/32,W/32],
                 the lstm cell's [h, c] on channels, [1,256,H/32,W/32], the head reading h)
  weights.bin + weights.json   the same weights (BN folded) for the TF.js engine
  manifest.json  classes, palette, input size, normalisation, provenance, metrics; `fuser.cell`

With --add-fuser CKPT (a train_fuser.py checkpoint, or `init` for an untrained cell of --cell)
the model in --out is left as it is and a second fuser is added beside its own:
fuser-<cell>.onnx, its TF.js weights fuser-<cell>.json + .bin (module names fuser.*), and
manifest `fusers.<cell>` (the runtime's `fuserCell` option picks it).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(__file__))
from fast_scnn import FUSERS, FastSCNN, arch_kwargs  # noqa: E402

CLASSES = ['Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence', 'Car', 'Pedestrian', 'Bicyclist']
PALETTE = [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
           [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192]]


def fold(conv, bn):
    w = conv.weight.detach().clone()
    b = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(w.shape[0])
    if bn is not None:
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        w = w * s.view(-1, 1, 1, 1)
        b = (b - bn.running_mean) * s + bn.bias
    return w.detach(), b.detach()


def tfjs_weights(model):
    """Every conv with its BN folded, keyed by module path, in PyTorch layout [O, I/g, kh, kw]."""
    entries, blobs, off = [], [], 0
    mods = dict(model.named_modules())
    for name, m in model.named_modules():
        if not isinstance(m, nn.Conv2d):
            continue
        parent_name, idx = name.rsplit('.', 1) if '.' in name else ('', name)
        parent = mods.get(parent_name)
        bn = None
        if isinstance(parent, nn.Sequential) and idx.isdigit() and int(idx) + 1 < len(parent):
            nxt = parent[int(idx) + 1]
            bn = nxt if isinstance(nxt, nn.BatchNorm2d) else None
        w, b = fold(m, bn)
        relu = isinstance(parent, nn.Sequential) and any(isinstance(x, nn.ReLU) for x in parent) and bn is not None
        for kind, t in (('w', w), ('b', b)):
            a = t.numpy().astype(np.float32).ravel()
            blobs.append(a)
            entries.append({'name': f'{parent_name if bn is not None else name}.{kind}', 'shape': list(t.shape), 'offset': off})
            off += a.size
        entries[-1]['conv'] = {'stride': m.stride[0], 'pad': m.padding[0], 'dilation': m.dilation[0], 'groups': m.groups, 'relu': relu}
    return entries, np.concatenate(blobs)


def upsample_model(classes):
    scores = helper.make_tensor_value_info('scores', TensorProto.FLOAT, [1, classes, 'h', 'w'])
    size = helper.make_tensor_value_info('size', TensorProto.INT64, [2])
    labels = helper.make_tensor_value_info('labels', TensorProto.UINT8, [1, 'H', 'W'])
    nodes = [
        helper.make_node('Shape', ['scores'], ['shp']),
        helper.make_node('Slice', ['shp', 'zero', 'two'], ['nc']),
        helper.make_node('Concat', ['nc', 'size'], ['sizes'], axis=0),
        helper.make_node('Resize', ['scores', '', '', 'sizes'], ['up'], mode='linear',
                         coordinate_transformation_mode='half_pixel'),
        helper.make_node('ArgMax', ['up'], ['idx'], axis=1, keepdims=0),
        helper.make_node('Cast', ['idx'], ['labels'], to=TensorProto.UINT8),
    ]
    inits = [helper.make_tensor('zero', TensorProto.INT64, [1], [0]), helper.make_tensor('two', TensorProto.INT64, [1], [2])]
    g = helper.make_graph(nodes, 'upsample_argmax', [scores, size], [labels], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)], producer_name='segflow')
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m


def count_macs(model, h, w, fuser=False):
    """Multiply-accumulates of the convolutions: the network (scores at 1/8), or with fuser=True one fuser step."""
    macs = [0]

    def hook(m, i, o):
        if isinstance(m, nn.Conv2d):
            macs[0] += o.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
    with torch.no_grad():
        high = model.shallow(torch.zeros(1, 3, h, w))
        low = model.deep(high)
    hs = [m.register_forward_hook(hook) for m in (model.fuser if fuser else model).modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        if fuser:
            model.fuser(high, model.fuser.init_state(low))
        else:
            model(torch.zeros(1, 3, h, w), full_size=False)
    for x in hs:
        x.remove()
    return macs[0]


def load_fuser(a, ckpt, model, high, low, dyn, kw, onnx_name):
    """Build the fuser of `ckpt` (a train_fuser.py checkpoint, or 'init': an untrained --cell) as
    model.fuser, export it to <out>/<onnx_name>; returns its manifest record."""
    fk = None if ckpt == 'init' else torch.load(ckpt, map_location='cpu')
    cell = a.cell or (fk or {}).get('args', {}).get('cell') or 'gru'
    if fk is not None and (fk['args'].get('cell') or 'gru') != cell:
        raise SystemExit(f"{ckpt} holds a {fk['args'].get('cell') or 'gru'} fuser, not {cell}")
    model.fuser = FUSERS[cell](model.shallow.out_channels, model.deep.out_channels)
    if fk is not None:
        model.fuser.load_state_dict(fk['fuser'])
    model.fuser.eval()
    torch.onnx.export(model.fuser, (high, model.fuser.init_state(low)), os.path.join(a.out, onnx_name),
                      input_names=['high', 'state'], output_names=['next'], dynamic_axes=dyn('high', 'state', 'next'), **kw)
    info = {
        'cell': cell,
        'architecture': ('convgru-1/32 (training/fast_scnn.py TemporalFuser)' if cell == 'gru' else
                         'convlstm-1/32 (training/fast_scnn.py TemporalFuserLSTM; state [h, c] on channels)'),
        'stateChannels': (1 if cell == 'gru' else 2) * model.deep.out_channels,
        'params': sum(p.numel() for p in model.fuser.parameters()),
        'macs': {s_: count_macs(model, *map(int, s_.split('x')), fuser=True) for s_ in ('360x480', '540x960')},
    }
    if fk is None:
        info.update(command='untrained (training/export.py --add-fuser init): returns the key frame deep features unchanged', steps=0)
        return info
    info.update(command=a.fuser_command or ' '.join(['training/train_fuser.py'] + [f'--{k}={v}' for k, v in fk['args'].items() if k != 'data']),
                steps=fk['step'] + 1, base=fk.get('base'))
    log = os.path.join(os.path.dirname(ckpt), 'log.jsonl')
    if os.path.exists(log):
        with open(log) as f:
            last = [json.loads(l) for l in f if l.strip()][-1]
        frames = fk['args'].get('frames', 7)
        info['metrics'] = {
            'what': f'mIoU (percent) of the non-key frames of 24 clips of {frames} frames made from CamVid val stills by camera '
                    'motion (training/train_fuser.py evaluate): plain reuse of the key frame deep features vs the fuser, by '
                    'position after the key frame; plain keys: strong motion (up to 5 %/frame zoom, 10 px pan, 0.8 deg roll), '
                    'mild_ keys: the video evaluation\'s motion (1.2 %/frame zoom, 2 px pan, 0.15 deg roll)',
            **{k: last[k] for k in ('step', 'reuse', 'reuse_by_pos', 'fuser', 'fuser_by_pos', 'mild_reuse', 'mild_reuse_by_pos',
                                    'mild_fuser', 'mild_fuser_by_pos') if k in last},
        }
    return info


def add_fuser(a, model, high, low, dyn, kw):
    """--add-fuser: a second fuser beside the model's own in --out (the model's files are left as they are)."""
    man_path = os.path.join(a.out, 'manifest.json')
    with open(man_path) as f:
        manifest = json.load(f)
    info = load_fuser(a, a.add_fuser, model, high, low, dyn, kw, 'fuser-tmp.onnx')
    cell = info['cell']
    stem = f'fuser-{cell}'
    os.replace(os.path.join(a.out, 'fuser-tmp.onnx'), os.path.join(a.out, stem + '.onnx'))
    entries, blob = tfjs_weights(nn.ModuleDict({'fuser': model.fuser}))
    blob.tofile(os.path.join(a.out, stem + '.bin'))
    with open(os.path.join(a.out, stem + '.json'), 'w') as f:
        json.dump({'format': 'segflow-weights-1', 'dtype': 'float32', 'layout': 'OIHW', 'tensors': entries}, f)
    info['parts'] = {'fuser': stem + '.onnx', 'tfjsWeights': stem + '.json'}
    manifest.setdefault('fusers', {})[cell] = info
    if 'fuser' in manifest and 'cell' not in manifest['fuser']:
        manifest['fuser'] = {'cell': 'gru', **manifest['fuser']}
    with open(man_path, 'w') as f:
        json.dump(manifest, f, indent=2)
    print(json.dumps({'added': stem, 'params': info['params'], 'macs': info['macs']}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--name', default='fast-scnn-camvid')
    ap.add_argument('--command', default='', help='the training command, recorded in the manifest')
    ap.add_argument('--metrics', default='', help='JSON file of evaluation metrics to record')
    ap.add_argument('--fuser', default='', help='temporal fuser checkpoint (training/train_fuser.py) trained on this --ckpt')
    ap.add_argument('--fuser-command', default='', help='the fuser training command, recorded in the manifest')
    ap.add_argument('--cell', choices=sorted(FUSERS), default=None,
                    help="the fuser's cell (default: the fuser checkpoint's, else gru); needed with `--add-fuser init`")
    ap.add_argument('--add-fuser', default='', help='add this fuser checkpoint (or `init`: untrained) to the model in --out as fuser-<cell>.*')
    a = ap.parse_args()

    ck = torch.load(a.ckpt, map_location='cpu')
    args = ck.get('args', {})
    arch = arch_kwargs(args)
    width = arch.get('width', 1.0)
    model = FastSCNN(len(CLASSES), **arch)
    model.load_state_dict(ck['model'])
    model.eval()
    os.makedirs(a.out, exist_ok=True)
    H, W = 360, 480
    x = torch.zeros(1, 3, H, W)
    with torch.no_grad():
        high = model.shallow(x)
        low = model.deep(high)
    dyn = lambda *names: {n: {2: f'{n}_h', 3: f'{n}_w'} for n in names}  # noqa: E731
    kw = dict(opset_version=13, do_constant_folding=True)
    if a.add_fuser:
        add_fuser(a, model, high, low, dyn, kw)
        return
    torch.onnx.export(model.shallow, (x,), os.path.join(a.out, 'shallow.onnx'), input_names=['image'],
                      output_names=['high'], dynamic_axes=dyn('image', 'high'), **kw)
    torch.onnx.export(model.deep, (high,), os.path.join(a.out, 'deep.onnx'), input_names=['high'],
                      output_names=['low'], dynamic_axes=dyn('high', 'low'), **kw)
    torch.onnx.export(model.head, (high, low), os.path.join(a.out, 'head.onnx'), input_names=['high', 'low'],
                      output_names=['scores'], dynamic_axes=dyn('high', 'low', 'scores'), **kw)
    onnx.save(upsample_model(len(CLASSES)), os.path.join(a.out, 'upsample.onnx'))
    fuser_info = None
    if a.fuser:
        fuser_info = load_fuser(a, a.fuser, model, high, low, dyn, kw, 'fuser.onnx')

    entries, blob = tfjs_weights(model)
    blob.tofile(os.path.join(a.out, 'weights.bin'))
    with open(os.path.join(a.out, 'weights.json'), 'w') as f:
        json.dump({'format': 'segflow-weights-1', 'dtype': 'float32', 'layout': 'OIHW', 'tensors': entries}, f)

    try:
        commit = subprocess.check_output(['git', 'rev-parse', 'HEAD'], text=True, stderr=subprocess.DEVNULL).strip()
    except Exception:
        commit = 'uncommitted'
    # the training script's own evaluation of this checkpoint, kept apart from segflow eval's figures
    metrics = {'duringTraining': ck['metrics']} if ck.get('metrics') else {}
    if a.metrics:
        with open(a.metrics) as f:
            metrics = {**metrics, **json.load(f)}
    manifest = {
        'name': a.name,
        'architecture': 'fast-scnn' if (args.get('arch') or 'fast') == 'fast' else f"fast-scnn-{args['arch']}",
        'width': width,
        **({'arch': {k: list(v) if isinstance(v, tuple) else v for k, v in arch.items()}} if (args.get('arch') or 'fast') != 'fast' else {}),
        'classes': CLASSES,
        'palette': PALETTE,
        'void': 11,
        'inputSize': [H, W],
        'normalisation': {'mean': [123.675, 116.28, 103.53], 'std': [58.395, 57.12, 57.375], 'scale': '0..255 RGB'},
        'parts': {'shallow': 'shallow.onnx', 'deep': 'deep.onnx', 'head': 'head.onnx', 'upsample': 'upsample.onnx',
                  'tfjsWeights': 'weights.json', **({'fuser': 'fuser.onnx'} if fuser_info else {})},
        'strides': {'high': 8, 'low': 32},
        'params': sum(p.numel() for n, p in model.named_parameters() if not n.startswith('fuser.')),
        'macs': {'360x480': count_macs(model, 360, 480), '540x960': count_macs(model, 540, 960)},
        'provenance': {
            'data': 'CamVid 11-class (../shared/data/camvid), ' + (
                f"train split without sequence {args.get('holdout')}" if args.get('holdout') else 'train split') + (
                ' + val' if args.get('with_val') else ''),
            'command': a.command or ' '.join(['training/train.py'] + [f'--{k}={v}' for k, v in args.items() if k != 'data']),
            'trainingArgs': {k: v for k, v in args.items() if k != 'data'},
            'epoch': ck.get('epoch'),
            'commit': commit,
            'exported': datetime.datetime.utcnow().isoformat(timespec='seconds') + 'Z',
        },
        'metrics': metrics,
        **({'fuser': fuser_info} if fuser_info else {}),
    }
    with open(os.path.join(a.out, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
    print(json.dumps({k: manifest[k] for k in ('name', 'params', 'macs')}))


if __name__ == '__main__':
    main()
