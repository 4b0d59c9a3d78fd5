"""Fast-SCNN (Poudel et al. 2019) split at its branch boundaries.

The network is three modules so the runtime can run or skip each one:

  shallow  learning-to-downsample: image -> 1/8 features (the high-resolution branch)
  deep     global feature extractor + pyramid pooling: 1/8 features -> 1/32 features
  head     feature fusion + classifier: (1/8, 1/32) -> class scores at 1/8

`width` scales every channel count (the survey's width multiplier);
`deep_width` and `head_width` override it for the deep branch and the head,
and `depth` sets the number of bottlenecks in each of the deep branch's three
stages (Fast-SCNN: 3, 3, 3). ARCHS names the presets: `fast` is the paper's
network (the shipped `fast-scnn-camvid`), `strong` a key-frame network with
~4x its MACs spent where the runtime can afford them: the deep branch, which
runs only on key frames (non-key frames run the shallow branch and the head,
so those stay close to `fast`'s size). Module names do not change with the
preset, so export.py, the TF.js engine and the temporal fuser work unchanged.
Input
resolution is free: every resize is to the size of another tensor, never a
fixed factor, so 360x480 and 540x960 both work with the same weights.

The pyramid pooling module pools a fixed 12x12 bilinear resample of the 1/32
features with kernels 12/6/4/2 (bins 1,2,3,6). That keeps pooling windows
identical at every input size and exports to ONNX and TF.js without adaptive
pooling, which neither handles for sizes that do not divide evenly.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def ch(c, width):
    return max(8, int(round(c * width / 8.0)) * 8)


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin, cout, k=3, s=1, groups=1, dilation=1, relu=True):
        pad = dilation * (k - 1) // 2
        layers = [nn.Conv2d(cin, cout, k, s, pad, dilation=dilation, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class DSConv(nn.Sequential):
    """Depthwise 3x3 + pointwise 1x1, each with BN + ReLU."""

    def __init__(self, cin, cout, s=1):
        super().__init__(ConvBNReLU(cin, cin, 3, s, groups=cin), ConvBNReLU(cin, cout, 1))


class Bottleneck(nn.Module):
    """MobileNetV2 inverted residual, expansion t."""

    def __init__(self, cin, cout, s, t=6):
        super().__init__()
        hid = cin * t
        self.use_res = s == 1 and cin == cout
        self.block = nn.Sequential(
            ConvBNReLU(cin, hid, 1),
            ConvBNReLU(hid, hid, 3, s, groups=hid),
            ConvBNReLU(hid, cout, 1, relu=False),
        )

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class PyramidPooling(nn.Module):
    GRID = 12
    BINS = (1, 2, 3, 6)

    def __init__(self, cin, cout):
        super().__init__()
        inter = cin // 4
        self.stages = nn.ModuleList([ConvBNReLU(cin, inter, 1) for _ in self.BINS])
        self.out = ConvBNReLU(cin * 2, cout, 1)

    def forward(self, x):
        size = x.shape[2:]
        g = F.interpolate(x, size=(self.GRID, self.GRID), mode='bilinear', align_corners=False)
        feats = [x]
        for b, stage in zip(self.BINS, self.stages):
            k = self.GRID // b
            p = stage(F.avg_pool2d(g, k, k))
            feats.append(F.interpolate(p, size=size, mode='bilinear', align_corners=False))
        return self.out(torch.cat(feats, 1))


class Shallow(nn.Module):
    """Learning to downsample: Conv3x3/2 (32) -> DSConv/2 (48) -> DSConv/2 (64)."""

    def __init__(self, width=1.0):
        super().__init__()
        c1, c2, c3 = ch(32, width), ch(48, width), ch(64, width)
        self.out_channels = c3
        self.net = nn.Sequential(ConvBNReLU(3, c1, 3, 2), DSConv(c1, c2, 2), DSConv(c2, c3, 2))

    def forward(self, x):
        return self.net(x)


class Deep(nn.Module):
    """Global feature extractor: bottlenecks 64x3 s2, 96x3 s2, 128x3 s1 (expansion 6), then PPM -> 128."""

    def __init__(self, cin, width=1.0, depth=(3, 3, 3), expand=6):
        super().__init__()
        c64, c96, c128 = ch(64, width), ch(96, width), ch(128, width)
        self.out_channels = c128
        layers = []
        for (cout, s), n in zip(((c64, 2), (c96, 2), (c128, 1)), depth):
            for i in range(n):
                layers.append(Bottleneck(cin, cout, s if i == 0 else 1, expand))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.ppm = PyramidPooling(c128, c128)

    def forward(self, x):
        return self.ppm(self.blocks(x))


class Head(nn.Module):
    """Feature fusion (low x4 up -> DW3x3 dil 4 -> 1x1; high 1x1; sum; ReLU) + classifier."""

    def __init__(self, c_high, c_low, classes, width=1.0):
        super().__init__()
        c = ch(128, width)
        self.low_dw = ConvBNReLU(c_low, c_low, 3, 1, groups=c_low, dilation=4)
        self.low_pw = ConvBNReLU(c_low, c, 1, relu=False)
        self.high_pw = ConvBNReLU(c_high, c, 1, relu=False)
        self.cls = nn.Sequential(DSConv(c, c), DSConv(c, c), nn.Dropout(0.1), nn.Conv2d(c, classes, 1))

    def forward(self, high, low):
        low = F.interpolate(low, size=high.shape[2:], mode='bilinear', align_corners=False)
        low = self.low_pw(self.low_dw(low))
        x = F.relu(low + self.high_pw(high))
        return self.cls(x)


ARCHS = {
    # Poudel et al. 2019: 1.14 M parameters, 0.56 GMACs at 360x480 (shallow 66 M, deep 328 M, head 168 M).
    'fast': {},
    # Key-frame network: deep branch 2x wide and 4/4/4 deep, shallow 1.25x; head as fast's.
    'strong': {'width': 1.25, 'deep_width': 2.0, 'head_width': 1.0, 'depth': (4, 4, 4)},
    # Key-frame network grown from a trained `fast` without changing what it computes (grow() below):
    # the deep branch's bottlenecks expand 12x instead of 6x and each stage gets more blocks; every
    # tensor the runtime passes between parts keeps `fast`'s shape (shallow 64 at 1/8, deep 128 at
    # 1/32), so the shipped temporal fuser, refinement and both engines take it as they take `fast`.
    'grown': {'depth': (4, 5, 5), 'expand': 12},
}


def arch_kwargs(args):
    """FastSCNN keyword arguments from a checkpoint's recorded args: the preset (`arch`), else `width`."""
    name = args.get('arch') or 'fast'
    if name not in ARCHS:
        raise ValueError(f'unknown arch {name!r}: expected one of {", ".join(ARCHS)}')
    kw = dict(ARCHS[name])
    if name == 'fast':
        kw['width'] = float(args.get('width', 1.0))
    return kw


class FastSCNN(nn.Module):
    def __init__(self, classes=11, width=1.0, deep_width=None, head_width=None, depth=(3, 3, 3), expand=6):
        super().__init__()
        self.shallow = Shallow(width)
        self.deep = Deep(self.shallow.out_channels, width if deep_width is None else deep_width, tuple(depth), expand)
        self.head = Head(self.shallow.out_channels, self.deep.out_channels, classes, width if head_width is None else head_width)

    def forward(self, x, full_size=True):
        high = self.shallow(x)
        scores = self.head(high, self.deep(high))
        if full_size:
            scores = F.interpolate(scores, size=x.shape[2:], mode='bilinear', align_corners=False)
        return scores


class TemporalFuser(nn.Module):
    """Convolutional GRU at 1/32 whose hidden state *is* the deep features.

    On a key frame the state is the deep branch's output. On a non-key frame
    only the shallow branch runs; the fuser takes its 1/8 features (resampled
    to 1/32) and the state from the previous frame and returns the updated
    state, which the head uses in place of fresh deep features:

        x  = relu(W_x * resize(high))                      1x1, c_high -> c_low
        z, r = sigmoid(W_g * [x, h])                        1x1, 2c -> 2c
        n  = relu(DW3x3(W_n * [x, r . h]))                 1x1 then depthwise 3x3
        h' = (1 - z) . h + z . n

    The update gate's bias starts at -3, so an untrained fuser keeps the state
    (exactly the plain "reuse the key frame's deep features" path) and
    training only has to learn what to change. `n` is non-negative like the
    deep features it replaces. About 60 MMACs at 540x960 (17x30 positions).
    """

    def __init__(self, c_high=64, c_low=128):
        super().__init__()
        self.c = c_low
        self.inp = nn.Conv2d(c_high, c_low, 1)
        self.gates = nn.Conv2d(2 * c_low, 2 * c_low, 1)
        self.cand = nn.Conv2d(2 * c_low, c_low, 1)
        self.cand_dw = nn.Conv2d(c_low, c_low, 3, padding=1, groups=c_low)
        with torch.no_grad():
            self.gates.bias[:c_low].fill_(-3.0)

    def forward(self, high, state):
        x = F.relu(self.inp(F.interpolate(high, size=state.shape[2:], mode='bilinear', align_corners=False)))
        zr = torch.sigmoid(self.gates(torch.cat([x, state], 1)))
        z, r = zr[:, :self.c], zr[:, self.c:]
        n = F.relu(self.cand_dw(self.cand(torch.cat([x, r * state], 1))))
        return (1 - z) * state + z * n

    # The runtime's view of the state (shared with TemporalFuserLSTM): on a key frame the state is
    # made from the deep features, and the head reads the deep features back out of it.
    def init_state(self, deep):
        return deep

    def features(self, state):
        return state


class TemporalFuserLSTM(nn.Module):
    """Convolutional LSTM at 1/32 whose hidden state *is* the deep features.

    The runtime keeps one state tensor: [h, c] concatenated on channels (2C), h the deep
    features the head reads (the first C channels), c the cell. On a key frame h is the deep
    branch's output and c is zero. On a non-key frame:

        x       = relu(W_x * resize(high))                 1x1, c_high -> C
        i, f, o = sigmoid(W_g * [x, h])                     1x1, 2C -> 3C
        g       = tanh(DW3x3(W_n * [x, h]))                 1x1 then depthwise 3x3
        c'      = f . c + i . g
        h'      = relu(h + W_o * (o . tanh(c')))            1x1, C -> C

    W_o starts at zero, so an untrained fuser returns h unchanged (exactly the plain "reuse
    the key frame's deep features" path; relu(h) = h as the deep features are non-negative);
    the forget gate's bias starts at +3 and the input and output gates' at -3, so the cell
    first keeps what it has and only learns what to write. About 80 MMACs at 540x960.
    """

    def __init__(self, c_high=64, c_low=128):
        super().__init__()
        self.c = c_low
        self.inp = nn.Conv2d(c_high, c_low, 1)
        self.gates = nn.Conv2d(2 * c_low, 3 * c_low, 1)
        self.cand = nn.Conv2d(2 * c_low, c_low, 1)
        self.cand_dw = nn.Conv2d(c_low, c_low, 3, padding=1, groups=c_low)
        self.out = nn.Conv2d(c_low, c_low, 1)
        with torch.no_grad():
            self.gates.bias[:c_low].fill_(-3.0)              # i
            self.gates.bias[c_low:2 * c_low].fill_(3.0)      # f
            self.gates.bias[2 * c_low:].fill_(-3.0)          # o
            self.out.weight.zero_()
            self.out.bias.zero_()

    def init_state(self, deep):
        return torch.cat([deep, torch.zeros_like(deep)], 1)

    def features(self, state):
        return state[:, :self.c]

    def forward(self, high, state):
        h, c = state[:, :self.c], state[:, self.c:]
        x = F.relu(self.inp(F.interpolate(high, size=state.shape[2:], mode='bilinear', align_corners=False)))
        xh = torch.cat([x, h], 1)
        ifo = torch.sigmoid(self.gates(xh))
        i, f, o = ifo[:, :self.c], ifo[:, self.c:2 * self.c], ifo[:, 2 * self.c:]
        g = torch.tanh(self.cand_dw(self.cand(xh)))
        c2 = f * c + i * g
        h2 = F.relu(h + self.out(o * torch.tanh(c2)))
        return torch.cat([h2, c2], 1)


FUSERS = {'gru': TemporalFuser, 'lstm': TemporalFuserLSTM}


def grow(src_state, model, seed=0):
    """A state dict for `model` (a FastSCNN with more / wider deep bottlenecks than the network of
    `src_state`, every other shape equal) that computes exactly what `src_state` computes:

    - a bottleneck's extra hidden channels (expansion 12 instead of 6) get fresh expand and depthwise
      weights and zero projection weights, so they add nothing until training moves the projection;
    - an extra bottleneck appended to a stage is a residual block (stride 1, same width) whose last
      batch norm has weight and bias 0, so it adds 0: the identity (the zero-init residual trick).

    Batch-norm statistics of new channels start at mean 0, variance 1. Returns (state, names of the
    tensors that are entirely new)."""
    g = torch.Generator().manual_seed(seed)
    own = model.state_dict()
    out, new = {}, []
    # map each stage's source blocks onto the grown model's: stage by stage, first blocks first
    src_blocks = sorted({int(k.split('.')[2]) for k in src_state if k.startswith('deep.blocks.')})
    dst_blocks = sorted({int(k.split('.')[2]) for k in own if k.startswith('deep.blocks.')})

    def stage_of(state, blocks):
        # a block whose projection changes the width, or whose depthwise has stride 2, starts a stage
        starts, prev_out = [], None
        for b in blocks:
            w_out = state[f'deep.blocks.{b}.block.2.0.weight'].shape[0]
            w_in = state[f'deep.blocks.{b}.block.0.0.weight'].shape[1]
            if prev_out is None or w_out != prev_out or w_in != w_out:
                starts.append(b)
            prev_out = w_out
        groups = []
        for i, s0 in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else blocks[-1] + 1
            groups.append(list(range(s0, end)))
        return groups
    sg, dg = stage_of(src_state, src_blocks), stage_of(own, dst_blocks)
    if len(sg) != len(dg) or any(len(d) < len(s) for s, d in zip(sg, dg)):
        raise ValueError(f'cannot grow stages {[len(x) for x in sg]} into {[len(x) for x in dg]}')
    block_map = {}
    for s, d in zip(sg, dg):
        for i, b in enumerate(d):
            block_map[b] = s[i] if i < len(s) else None
    for k, v in own.items():
        if not k.startswith('deep.blocks.'):
            if k not in src_state or src_state[k].shape != v.shape:
                raise ValueError(f'{k}: {tuple(v.shape)} in the grown network, '
                                 f'{tuple(src_state[k].shape) if k in src_state else "missing"} in the source')
            out[k] = src_state[k].clone()
            continue
        parts = k.split('.')
        b, rest = int(parts[2]), '.'.join(parts[3:])
        sb = block_map[b]
        if sb is None:  # an appended identity block
            t = v.clone()
            if rest.startswith('block.2.1.') and rest.split('.')[-1] in ('weight', 'bias'):
                t.zero_()
            elif v.is_floating_point() and v.dim() == 4:
                t.normal_(0.0, (2.0 / (t.shape[0] * t.shape[2] * t.shape[3])) ** 0.5, generator=g)
            out[k] = t
            new.append(k)
            continue
        sv = src_state[f'deep.blocks.{sb}.{rest}']
        if sv.shape == v.shape:
            out[k] = sv.clone()
            continue
        t = v.clone()
        if v.is_floating_point() and v.dim() == 4:
            t.normal_(0.0, (2.0 / (t.shape[0] * t.shape[2] * t.shape[3])) ** 0.5, generator=g)
        if rest == 'block.2.0.weight':  # projection: old hidden channels keep their weights, new ones 0
            t.zero_()
            t[:, :sv.shape[1]] = sv
        else:  # expand conv, depthwise conv and their batch norms: old channels first
            t[:sv.shape[0]] = sv
        out[k] = t
    return out, new
