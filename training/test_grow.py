"""Checks of fast_scnn.grow (run by test/grow.test.ts; exits non-zero on a failure):
1. the grown network computes what the network it grew from computes (eval mode, two input sizes);
2. its new capacity is not dead: one backward pass gives non-zero gradients to the new channels'
   projection weights and to the appended blocks' zeroed batch-norm weights;
3. a network that is not a growth of the source (narrower stages) is refused with a clear error."""
import sys
import os

import torch

sys.path.insert(0, os.path.dirname(__file__))
from fast_scnn import ARCHS, FastSCNN, grow  # noqa: E402

torch.manual_seed(0)
src = FastSCNN(11)
# non-trivial batch-norm statistics and affine terms, as a trained network has
with torch.no_grad():
    for m in src.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
src.eval()
big = FastSCNN(11, **ARCHS['grown'])
state, new = grow(src.state_dict(), big)
big.load_state_dict(state)
big.eval()
assert len(new) > 0, 'grown adds no block'
for h, w in ((360, 480), (272, 480)):
    x = torch.randn(2, 3, h, w)
    with torch.no_grad():
        d = (src(x) - big(x)).abs().max().item()
    assert d < 1e-4, f'grown network differs from its source by {d} at {h}x{w}'
    print(f'same output at {h}x{w}: max |diff| {d:.2e}')

big.train()
out = big(torch.randn(2, 3, 176, 240))
torch.nn.functional.cross_entropy(out, torch.randint(0, 11, (2, 176, 240))).backward()
blocks = dict(big.deep.blocks.named_children())
first = big.deep.blocks[0].block[2][0].weight  # projection of a widened block
hid_src = src.deep.blocks[0].block[2][0].weight.shape[1]
g_new = first.grad[:, hid_src:].abs().sum().item()
assert g_new > 0, 'no gradient reaches the new hidden channels'
appended = [k for k in new if k.endswith('block.2.1.weight')]
assert appended, 'no appended block found'
name = appended[0].replace('.weight', '')
bn = big.get_submodule(name)
assert bn.weight.grad.abs().sum().item() > 0, f'no gradient reaches {name}'
print(f'gradients reach the new channels ({g_new:.3g}) and {len(appended)} appended blocks')

try:
    grow(big.state_dict(), FastSCNN(11))
except ValueError as e:
    print('refused:', e)
else:
    raise AssertionError('growing into a smaller network was not refused')
print('ok')
